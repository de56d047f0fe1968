import assert from "node:assert/strict";
import { test } from "node:test";
import { KeyedConcurrency } from "../src/store/keyed-concurrency.js";

/** A task that runs until `finish` is called, recording when it started. */
function gatedTask(started: string[], name: string) {
  let finish!: () => void;
  const done = new Promise<void>((resolve) => {
    finish = resolve;
  });
  return {
    task: async () => {
      started.push(name);
      await done;
      return name;
    },
    finish: () => finish(),
  };
}

const settle = () => new Promise((resolve) => setImmediate(resolve));

test("at most `limit` tasks of a key run at once; the others start in arrival order as places free up", async () => {
  const gate = new KeyedConcurrency(2);
  const started: string[] = [];
  const tasks = ["a1", "a2", "a3", "a4"].map((name) => gatedTask(started, name));
  const other = gatedTask(started, "b1");
  const results = tasks.map((t) => gate.run("org_a", t.task));
  const otherResult = gate.run("org_b", other.task);
  await settle();
  assert.deepEqual(started, ["a1", "a2", "b1"], "a third of org_a waits; org_b is counted apart");
  tasks[1]!.finish();
  await settle();
  assert.deepEqual(started, ["a1", "a2", "b1", "a3"]);
  tasks[0]!.finish();
  await settle();
  assert.deepEqual(started, ["a1", "a2", "b1", "a3", "a4"]);
  tasks[2]!.finish();
  tasks[3]!.finish();
  other.finish();
  assert.deepEqual(await Promise.all(results), ["a1", "a2", "a3", "a4"]);
  assert.equal(await otherResult, "b1");
  assert.equal(gate.busyKeys, 0, "idle keys are forgotten");
});

test("a task that fails frees its place", async () => {
  const gate = new KeyedConcurrency(1);
  await assert.rejects(
    gate.run("org_a", async () => {
      throw new Error("boom");
    }),
    /boom/,
  );
  assert.equal(await gate.run("org_a", async () => "next"), "next");
  assert.equal(gate.busyKeys, 0);
});

import type { Command } from "commander";

/**
 * Makes an option that takes a value a usage error when given twice (`--amount 5 --amount 50`), on
 * `command` and every subcommand: commander would keep the last one silently, and for a command that
 * moves money or revokes keys a guess is worse than a refusal. No option of the CLI is meant to
 * repeat; a flag without a value (`--json`) means the same however often it comes. The values are
 * not echoed: one may be an API key.
 */
export function refuseRepeatedOptions(command: Command): void {
  for (const option of command.options) {
    if (!(option.required || option.optional) || option.variadic) continue;
    let seen = false;
    command.on(`option:${option.name()}`, () => {
      if (seen)
        command.error(`leadtrail: ${option.long ?? option.flags} was given more than once; give it once`);
      seen = true;
    });
  }
  for (const sub of command.commands) refuseRepeatedOptions(sub);
}

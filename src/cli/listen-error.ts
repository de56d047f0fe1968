/**
 * Why `serve` could not listen, in words that say which setting to change: Node's own message
 * ("listen EADDRINUSE: address already in use 127.0.0.1:3000") names neither PORT nor HOST.
 */
export function listenError(error: unknown, address: string): Error {
  const code = (error as { code?: unknown }).code;
  const cause = error instanceof Error ? error.message : String(error);
  const hint =
    code === "EADDRINUSE"
      ? "another process is listening there: stop it, or set PORT to a free port (PORT=3001 npm start)"
      : code === "EACCES"
        ? "ports below 1024 need privileges: set PORT to 1024 or above"
        : code === "EADDRNOTAVAIL" || code === "ENOTFOUND"
          ? "this machine has no such address: set HOST to one of its own (127.0.0.1, or 0.0.0.0 for all)"
          : "check HOST and PORT";
  return new Error(`cannot listen on ${address} (HOST, PORT): ${cause}; ${hint}`);
}

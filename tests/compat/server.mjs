// Shared by the Node checks in tests/compat: starts the real `api` binary and resolves, once it
// listens, with the child process and its base URL.

import { spawn } from "node:child_process";

export function startApi(bin, args, env, timeoutMs = 60_000) {
  const server = spawn(bin, args, { env, stdio: ["ignore", "pipe", "pipe"] });
  const base = new Promise((resolve, reject) => {
    let seen = "";
    // Cleared once the server listens: a pending timer would keep Node running until it fires.
    const timer = setTimeout(() => reject(new Error(`api did not start: ${seen}`)), timeoutMs);
    server.stderr.on("data", (chunk) => {
      seen += chunk;
      const found = seen.match(/listening on (http:\/\/\S+)/);
      if (found) {
        clearTimeout(timer);
        resolve(found[1]);
      }
    });
    server.on("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`api exited with ${code}: ${seen}`));
    });
  });
  return base.then((url) => ({ server, base: url }));
}

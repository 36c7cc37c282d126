/**
 * The stack's Management API stand-in (see `management_api.ts`): one process serving every
 * environment of the stack by project ref on `managementApiConfig().url`.
 *
 * Usage: `deno run -A scripts/local/management.ts` (the stack starts it). Reads
 * `STAGECOACH_HOME` / `STAGECOACH_PORT_OFFSET`, the access token the stack minted and each
 * environment's keys. After a deploy or a secret change it asks that environment's gateway to
 * reload (`POST <apiUrl>/_stagecoach/reload` with the same token), so the next request runs the
 * new version. Exits 0 on SIGTERM or SIGINT.
 *
 * @module
 */
import { localEnvs, managementApiConfig, readAccessToken, readKeys } from "./config.ts";
import { RELOAD_PATH } from "./gateway_app.ts";
import { createManagementApp, type ManagedProject } from "./management_api.ts";

async function main(): Promise<void> {
  const api = managementApiConfig();
  const accessToken = await readAccessToken(api);
  const envs = localEnvs();
  const projects: ManagedProject[] = envs.map((env) => ({
    ref: env.projectRef,
    name: env.name,
    deployDir: env.deployDir,
    secretsFile: env.secretsFile,
    dbHost: "127.0.0.1",
    platformSecrets: async () => {
      const keys = await readKeys(env);
      return {
        SUPABASE_URL: env.apiUrl,
        SUPABASE_ANON_KEY: keys.anon_key,
        SUPABASE_SERVICE_ROLE_KEY: keys.service_role_key,
        SUPABASE_DB_URL: env.dbUrl,
      };
    },
  }));
  const app = createManagementApp({
    projects,
    accessToken,
    onChange: async (ref) => {
      const env = envs.find((e) => e.projectRef === ref)!;
      try {
        const res = await fetch(`${env.apiUrl}${RELOAD_PATH}`, {
          method: "POST",
          headers: { authorization: `Bearer ${accessToken}` },
          signal: AbortSignal.timeout(10_000),
        });
        await res.body?.cancel();
        if (!res.ok) console.error(`management: the ${env.name} gateway answered ${res.status}`);
      } catch (err) {
        // A gateway that is down reads the store when it starts.
        console.error(
          `management: cannot reach the ${env.name} gateway: ${(err as Error).message}`,
        );
      }
    },
  });
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: api.port, onListen: () => {} },
    app.fetch,
  );
  const stop = async () => {
    await server.shutdown();
    Deno.exit(0);
  };
  Deno.addSignalListener("SIGTERM", stop);
  Deno.addSignalListener("SIGINT", stop);
  console.log(`READY management ${api.url} projects=${projects.map((p) => p.ref).join(",")}`);
}

if (import.meta.main) {
  try {
    await main();
  } catch (err) {
    console.error(`management: ${(err as Error).message}`);
    Deno.exit(1);
  }
}

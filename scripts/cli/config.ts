/**
 * `stagecoach config export|import|set-secret` and `stagecoach audit verify`: clients of an
 * environment's `ops` function. The transfer key comes from `STAGECOACH_TRANSFER_KEY` or
 * `--key-file` and is sent only to the environment that seals or opens the bundle.
 *
 * @module
 */
import { readTransferKey } from "../../supabase/functions/_shared/config/transfer_key.ts";
import { TRANSFER_KEY_HEADER } from "../../supabase/functions/_shared/api/contract.ts";
import { renderPlan } from "../../supabase/functions/_shared/promotion/render.ts";
import { callOps, resolveToken } from "./api.ts";
import { type Command, envOption, parseCommand, required, UsageError } from "./command.ts";

const KEY_HELP = "  --key-file <file>   the transfer key (default: STAGECOACH_TRANSFER_KEY)";
const AS_HELP = "  --as <email>        act as this user (local stack); else STAGECOACH_TOKEN";

async function transferKey(keyFile: string | undefined): Promise<string> {
  try {
    return await readTransferKey({ env: Deno.env.toObject(), keyFile });
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
}

/** `config export`. */
export const configExportCommand: Command = {
  name: "config export",
  summary: "Export an environment's config as a sealed bundle (secrets encrypted)",
  usage:
    `usage: stagecoach config export --env <env> --out <file> [--key-file <file>] [--as <email>]

Writes a bundle: format version, source environment, time, every config entry (JSONB values
exactly), secret values encrypted with AES-256-GCM under a key derived from the transfer key,
and a SHA-256 checksum. The transfer key is never stored in the bundle.

options:
  --env <env>         the environment to export
  --out <file>        where to write the bundle (created with mode 600)
${KEY_HELP}
${AS_HELP}
  -h, --help`,
  async run(args) {
    const parsed = parseCommand(this, args, {
      env: { type: "string" },
      out: { type: "string" },
      "key-file": { type: "string" },
      as: { type: "string" },
    }, []);
    if (!parsed) return 0;
    const env = envOption(parsed.values.env);
    const out = required(parsed.values.out, "--out");
    const key = await transferKey(parsed.values["key-file"]);
    const res = await callOps(env, "config.export", {
      token: await resolveToken(env, parsed.values.as),
      headers: { [TRANSFER_KEY_HEADER]: key },
    });
    await Deno.writeTextFile(out, res.bundle, { mode: 0o600 });
    const checksum = JSON.parse(res.bundle).checksum;
    console.log(
      `exported ${res.entries} entries (${res.secrets} secret) from ${env.name} to ${out}`,
    );
    console.log(`checksum ${checksum}`);
    return 0;
  },
};

/** `config import`. */
export const configImportCommand: Command = {
  name: "config import",
  summary: "Import a config bundle into an environment (as a planned promotion)",
  usage:
    `usage: stagecoach config import --env <env> --in <file> [--dry-run] [--key-file <file>] [--as <email>] [--json]

Opens the bundle (a tampered, truncated, other-version or wrongly keyed bundle is refused and
nothing is written), plans it against the environment like a promotion from the bundle, and
records it; it is applied at once when the environment's policy needs no approval, otherwise
approve it and run \`promote apply\` with the same transfer key. The config then equals the
bundle's (environment-specific entries are kept).

options:
  --env <env>         the environment to import into
  --in <file>         the bundle
  --dry-run           show the plan only; write nothing
${KEY_HELP}
${AS_HELP}
  --json              print the API answer as JSON
  -h, --help`,
  async run(args) {
    const parsed = parseCommand(this, args, {
      env: { type: "string" },
      in: { type: "string" },
      "dry-run": { type: "boolean" },
      "key-file": { type: "string" },
      as: { type: "string" },
      json: { type: "boolean" },
    }, []);
    if (!parsed) return 0;
    const { values } = parsed;
    const env = envOption(values.env);
    const file = required(values.in, "--in");
    let bundle: string;
    try {
      bundle = await Deno.readTextFile(file);
    } catch (err) {
      throw new Error(`Cannot read bundle ${file}: ${(err as Error).message}`);
    }
    const key = await transferKey(values["key-file"]);
    const out = await callOps(env, "config.import", {
      token: await resolveToken(env, values.as),
      body: { bundle, dry_run: values["dry-run"] ?? false },
      headers: { [TRANSFER_KEY_HEADER]: key },
    });
    if (values.json) {
      console.log(JSON.stringify(out, null, 2));
      return 0;
    }
    console.log(`bundle from ${out.source_env}`);
    console.log(renderPlan(out.plan, { color: Deno.stdout.isTerminal(), hash: out.plan_hash }));
    if (values["dry-run"]) console.log("\ndry run: nothing written");
    else if (!out.promotion) console.log("\nNothing to import: no promotion recorded.");
    else {
      console.log(`\npromotion ${out.promotion.id}: ${out.promotion.status}`);
      if (out.applied) {
        for (const r of out.applied.validation) console.log(`  ${r.passed ? "✓" : "✗"} ${r.name}`);
      } else if (out.promotion.status === "awaiting_approval") {
        console.log(
          `needs ${out.promotion.required_approvals} approval(s); then: stagecoach promote apply ${out.promotion.id} --env ${env.name} (with the same transfer key)`,
        );
      }
      return out.promotion.status === "failed" ? 1 : 0;
    }
    return 0;
  },
};

async function readStdin(): Promise<string> {
  const chunks: Uint8Array[] = [];
  for await (const chunk of Deno.stdin.readable) chunks.push(chunk);
  return new TextDecoder().decode(
    chunks.reduce((a, b) => new Uint8Array([...a, ...b]), new Uint8Array()),
  ).replace(/\r?\n$/, "");
}

/** `config set-secret`. */
export const configSetSecretCommand: Command = {
  name: "config set-secret",
  summary: "Set a secret config value (read from stdin; stored encrypted)",
  usage:
    `usage: printf %s "$VALUE" | stagecoach config set-secret --env <env> --key <key> [--description <text>] [--as <email>]

Stores the value encrypted under the environment's key and prints its fingerprint; the value
is read from standard input so it never lands in shell history, and is never printed. Where
the environment requires approval (production), it records a high-risk promotion instead,
applied like any other once approved.

options:
  --env <env>           the environment
  --key <key>           the config key, e.g. stripe.api_key
  --description <text>  what it is for
${AS_HELP}
  -h, --help`,
  async run(args) {
    const parsed = parseCommand(this, args, {
      env: { type: "string" },
      key: { type: "string" },
      description: { type: "string" },
      as: { type: "string" },
    }, []);
    if (!parsed) return 0;
    const env = envOption(parsed.values.env);
    const key = required(parsed.values.key, "--key");
    if (Deno.stdin.isTerminal()) throw new UsageError("Pipe the secret value on standard input");
    const value = await readStdin();
    if (!value) throw new UsageError("The secret value on standard input is empty");
    const out = await callOps(env, "config.set_secret", {
      token: await resolveToken(env, parsed.values.as),
      params: { key },
      body: { value, description: parsed.values.description },
    });
    if (!out.promotion) {
      console.log(`${out.key} set in ${env.name} (fingerprint ${out.fingerprint})`);
    } else {
      console.log(
        `${env.name} requires approval: promotion ${out.promotion.id} sets ${out.key} ` +
          `(fingerprint ${out.fingerprint}), ${out.promotion.status}, ` +
          `${out.promotion.required_approvals} approval(s) needed; then promote apply`,
      );
    }
    return 0;
  },
};

/** `audit verify`. */
export const auditVerifyCommand: Command = {
  name: "audit verify",
  summary: "Verify an environment's hash-chained audit log",
  usage: `usage: stagecoach audit verify --env <env> [--as <email>] [--json]

Recomputes the chain of ops.audit_log (each entry carries the hash of the previous one) and
names the first broken entry. Exits 1 when the chain is broken.

options:
  --env <env>         the environment
${AS_HELP}
  --json              print { intact, entries, first_broken_id }
  -h, --help`,
  async run(args) {
    const parsed = parseCommand(this, args, {
      env: { type: "string" },
      as: { type: "string" },
      json: { type: "boolean" },
    }, []);
    if (!parsed) return 0;
    const env = envOption(parsed.values.env);
    const out = await callOps(env, "audit.verify", {
      token: await resolveToken(env, parsed.values.as),
    });
    if (parsed.values.json) console.log(JSON.stringify(out, null, 2));
    else if (out.intact) console.log(`${env.name}: audit chain intact (${out.entries} entries)`);
    else {console.log(
        `${env.name}: audit chain BROKEN at entry #${out.first_broken_id} (${out.entries} entries)`,
      );}
    return out.intact ? 0 : 1;
  },
};

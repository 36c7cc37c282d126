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
import { AS_OPTION, callOps, resolveToken } from "./api.ts";
import { defineCommand, envOption, parseCommand, required, UsageError } from "./command.ts";

const KEY_FILE = {
  type: "string",
  value: "<file>",
  help: "the transfer key (default: STAGECOACH_TRANSFER_KEY)",
} as const;

async function transferKey(keyFile: string | undefined): Promise<string> {
  try {
    return await readTransferKey({ env: Deno.env.toObject(), keyFile });
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
}

/** `config export`. */
export const configExportCommand = defineCommand({
  name: "config export",
  summary: "Export an environment's config as a sealed bundle (secrets encrypted)",
  description:
    `Writes a bundle: format version, source environment, time, every config entry (JSONB values
exactly), secret values encrypted with AES-256-GCM under a key derived from the transfer key,
and a SHA-256 checksum. The transfer key is never stored in the bundle.`,
  options: {
    env: { type: "string", value: "<env>", help: "the environment to export", required: true },
    out: {
      type: "string",
      value: "<file>",
      help: "where to write the bundle (created with mode 600)",
      required: true,
    },
    "key-file": KEY_FILE,
    as: AS_OPTION,
  },
  async run(args) {
    const parsed = parseCommand(this, args, []);
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
});

/** `config import`. */
export const configImportCommand = defineCommand({
  name: "config import",
  summary: "Import a config bundle into an environment (as a planned promotion)",
  description:
    `Opens the bundle (a tampered, truncated, other-version or wrongly keyed bundle is refused and
nothing is written), plans it against the environment like a promotion from the bundle, and
records it; it is applied at once when the environment's policy needs no approval, otherwise
approve it and run \`promote apply\` with the same transfer key. The config then equals the
bundle's (environment-specific entries are kept).`,
  options: {
    env: { type: "string", value: "<env>", help: "the environment to import into", required: true },
    in: { type: "string", value: "<file>", help: "the bundle", required: true },
    "dry-run": { type: "boolean", help: "show the plan only; write nothing" },
    "key-file": KEY_FILE,
    as: AS_OPTION,
    json: { type: "boolean", help: "print the API answer as JSON" },
  },
  async run(args) {
    const parsed = parseCommand(this, args, []);
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
});

async function readStdin(): Promise<string> {
  const chunks: Uint8Array[] = [];
  for await (const chunk of Deno.stdin.readable) chunks.push(chunk);
  return new TextDecoder().decode(
    chunks.reduce((a, b) => new Uint8Array([...a, ...b]), new Uint8Array()),
  ).replace(/\r?\n$/, "");
}

/** `config set-secret`. */
export const configSetSecretCommand = defineCommand({
  name: "config set-secret",
  summary: "Set a secret config value (read from stdin; stored encrypted)",
  stdin: `printf %s "$VALUE" |`,
  description:
    `Stores the value encrypted under the environment's key and prints its fingerprint; the value
is read from standard input so it never lands in shell history, and is never printed. Where
the environment requires approval (production), it records a high-risk promotion instead,
applied like any other once approved.`,
  options: {
    env: { type: "string", value: "<env>", help: "the environment", required: true },
    key: {
      type: "string",
      value: "<key>",
      help: "the config key, e.g. stripe.api_key",
      required: true,
    },
    description: { type: "string", value: "<text>", help: "what it is for" },
    as: AS_OPTION,
  },
  async run(args) {
    const parsed = parseCommand(this, args, []);
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
});

/** `audit verify`. */
export const auditVerifyCommand = defineCommand({
  name: "audit verify",
  summary: "Verify an environment's hash-chained audit log",
  description:
    `Recomputes the chain of ops.audit_log (each entry carries the hash of the previous one) and
names the first broken entry. Exits 1 when the chain is broken.`,
  options: {
    env: { type: "string", value: "<env>", help: "the environment", required: true },
    as: AS_OPTION,
    json: { type: "boolean", help: "print { intact, entries, first_broken_id }" },
  },
  async run(args) {
    const parsed = parseCommand(this, args, []);
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
});

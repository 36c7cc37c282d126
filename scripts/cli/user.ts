/** `stagecoach user create` and `stagecoach token`: local stand-ins for Supabase Auth. */
import { z } from "zod";
import {
  defineCommand,
  ENV_OPTION,
  envOption,
  parseOptions,
  required,
  UsageError,
  withDatabase,
} from "./command.ts";
import { ensureUser, localOnly, OPS_ROLES, userToken } from "./target.ts";

const Email = z.email();

function emailOption(value: string | undefined): string {
  const parsed = Email.safeParse(required(value, "--email"));
  if (!parsed.success) throw new UsageError(`Invalid --email: "${value}" is not an email address`);
  return parsed.data;
}

/** Creates (or finds) a user, sets its password and ops role. */
export const userCreateCommand = defineCommand({
  name: "user create",
  summary: "Create a user in an environment's auth.users (local stand-in for Supabase Auth)",
  description:
    `Creates an email user as Supabase Auth would (auth.users + auth.identities, bcrypt password).
Running it again for the same email changes nothing unless a new password or role is given.`,
  options: {
    env: ENV_OPTION,
    email: { type: "string", value: "<email>", help: "the user's email", required: true },
    password: {
      type: "string",
      value: "<p>",
      help: "password (default: a random one, never printed)",
    },
    role: { type: "string", value: "<role>", help: `ops role to grant: ${OPS_ROLES.join(" | ")}` },
    json: { type: "boolean", help: "print the user as JSON" },
  },
  async run(args) {
    const values = parseOptions(this, args);
    if (!values) return 0;
    const target = envOption(values.env);
    const env = localOnly(target, "create a user");
    const email = emailOption(values.email);
    const role = values.role;
    if (role !== undefined && !(OPS_ROLES as readonly string[]).includes(role)) {
      throw new UsageError(`Invalid --role: "${role}" is not one of ${OPS_ROLES.join(", ")}`);
    }
    const user = await withDatabase(target, (sql) =>
      ensureUser(sql, {
        email,
        password: values.password,
        role: role as typeof OPS_ROLES[number] | undefined,
      }));
    if (values.json) console.log(JSON.stringify({ env: env.name, ...user }, null, 2));
    else {
      console.log(
        `${user.created ? "created" : "exists "} ${user.email} (${user.id}) in ${env.name}` +
          (user.ops_role ? `, ops role ${user.ops_role}` : ""),
      );
    }
    return 0;
  },
});

/** Mints an access token for a user. */
export const tokenCommand = defineCommand({
  name: "token",
  summary: "Mint an access token for a user of an environment (local stand-in for sign-in)",
  description:
    `Prints an access token for the user, signed with the environment's JWT secret, with the
claims Supabase Auth puts in one (sub, email, role authenticated, aud, …).`,
  options: {
    env: ENV_OPTION,
    email: { type: "string", value: "<email>", help: "the user's email", required: true },
    ttl: { type: "string", value: "<seconds>", help: "lifetime (default 3600)" },
    json: { type: "boolean", help: "print { access_token, token_type, expires_in, user }" },
  },
  async run(args) {
    const values = parseOptions(this, args);
    if (!values) return 0;
    const target = envOption(values.env);
    const env = localOnly(target, "mint a token");
    const email = emailOption(values.email);
    const ttl = values.ttl === undefined ? 3600 : Number(values.ttl);
    if (!Number.isInteger(ttl) || ttl <= 0) {
      throw new UsageError(`Invalid --ttl: "${values.ttl}" is not a positive whole number`);
    }
    const token = await withDatabase(
      target,
      (sql) => userToken(sql, env, { email, ttlSeconds: ttl }),
    );
    if (values.json) {
      console.log(JSON.stringify({ ...token, token_type: "bearer" }, null, 2));
    } else console.log(token.access_token);
    return 0;
  },
});

/**
 * A small dotenv reader for function secrets (`functions.env` written by the stack and the
 * user's optional `supabase/functions/.env`).
 *
 * Supported, as `supabase secrets set --env-file` reads them: `KEY=value`, `export KEY=value`,
 * blank lines and `#` comments, inline comments after unquoted values (` #`), single-quoted
 * values taken literally, and double-quoted values with `\n`, `\r`, `\t`, `\"` and `\\`
 * escapes, which may span lines. Variables are not expanded (`${X}` stays as written).
 *
 * @module
 */

const KEY = /^[A-Za-z_][A-Za-z0-9_]*$/;

/**
 * Parses dotenv text into a record; a key given twice keeps its last value.
 *
 * @param text the file's content
 * @returns the variables, in file order
 * @throws {Error} naming the line when it is not `KEY=value` or a quote is never closed
 * @example
 * ```ts
 * parseDotenv('A=1\nexport B="two words" # note\n'); // { A: "1", B: "two words" }
 * ```
 */
export function parseDotenv(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  const lines = text.replace(/\r\n?/g, "\n").split("\n");
  for (let i = 0; i < lines.length; i++) {
    const lineNo = i + 1;
    const line = lines[i].trim();
    if (line === "" || line.startsWith("#")) continue;
    const body = line.replace(/^export\s+/, "");
    const eq = body.indexOf("=");
    const key = eq === -1 ? "" : body.slice(0, eq).trim();
    if (!KEY.test(key)) {
      throw new Error(`Cannot parse dotenv: line ${lineNo} is not KEY=value`);
    }
    const rest = body.slice(eq + 1).trimStart();
    const quote = rest[0];
    if (quote === "'" || quote === '"') {
      // Quoted values may continue on the following lines until the closing quote.
      let raw = rest.slice(1);
      let close = findClosingQuote(raw, quote);
      while (close === -1 && i + 1 < lines.length) {
        i++;
        raw += "\n" + lines[i];
        close = findClosingQuote(raw, quote);
      }
      if (close === -1) {
        throw new Error(`Cannot parse dotenv: the quote opened on line ${lineNo} is never closed`);
      }
      const after = raw.slice(close + 1).trim();
      if (after !== "" && !after.startsWith("#")) {
        throw new Error(`Cannot parse dotenv: line ${lineNo} has text after the closing quote`);
      }
      const value = raw.slice(0, close);
      out[key] = quote === '"' ? unescapeDouble(value) : value;
    } else {
      const comment = rest.search(/\s#/);
      out[key] = (comment === -1 ? rest : rest.slice(0, comment)).trim();
    }
  }
  return out;
}

function findClosingQuote(raw: string, quote: string): number {
  for (let i = 0; i < raw.length; i++) {
    if (quote === '"' && raw[i] === "\\") {
      i++;
      continue;
    }
    if (raw[i] === quote) return i;
  }
  return -1;
}

function unescapeDouble(value: string): string {
  return value.replace(/\\([nrt"\\])/g, (_, c: string) => {
    switch (c) {
      case "n":
        return "\n";
      case "r":
        return "\r";
      case "t":
        return "\t";
      default:
        return c;
    }
  });
}

/**
 * Reads and parses a dotenv file; a missing file reads as no variables.
 *
 * @param path the file to read
 * @returns the variables, or `{}` when the file does not exist
 * @throws {Error} when the file exists but cannot be read or parsed (the path is named)
 * @example
 * ```ts
 * const secrets = await readDotenvFile("supabase/functions/.env");
 * ```
 */
export async function readDotenvFile(path: string): Promise<Record<string, string>> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return {};
    throw new Error(`Cannot read dotenv file ${path}: ${(err as Error).message}`, { cause: err });
  }
  try {
    return parseDotenv(text);
  } catch (err) {
    throw new Error(`${(err as Error).message} (in ${path})`, { cause: err });
  }
}

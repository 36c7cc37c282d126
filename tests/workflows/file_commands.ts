/**
 * GitHub's file commands (`$GITHUB_OUTPUT`, `$GITHUB_ENV`, `$GITHUB_PATH`), read as the runner
 * reads them after each step: `name=value` lines, or the multi-line form
 * `name<<DELIMITER` … `DELIMITER`; empty lines are skipped; a line that is neither, an empty
 * name, or a missing closing delimiter fails the step.
 *
 * @module
 */

/** A file command file that does not follow GitHub's format. */
export class FileCommandError extends Error {
  override name = "FileCommandError";
}

/**
 * Parses the contents of a `$GITHUB_OUTPUT` or `$GITHUB_ENV` file.
 *
 * @param text the file's contents
 * @param file its name, for error messages (`GITHUB_OUTPUT`)
 * @returns the values, later lines overriding earlier ones
 * @throws {FileCommandError} "Cannot read GITHUB_OUTPUT: …" on a malformed line
 * @example
 * ```ts
 * parseKeyValueFile("a=1\nnotes<<EOF\nline 1\nline 2\nEOF\n", "GITHUB_OUTPUT");
 * // { a: "1", notes: "line 1\nline 2" }
 * ```
 */
export function parseKeyValueFile(text: string, file: string): Record<string, string> {
  const lines = text.split(/\r?\n/);
  const values: Record<string, string> = {};
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i];
    if (line === "") continue;
    const eq = line.indexOf("=");
    const heredoc = line.indexOf("<<");
    if (eq >= 0 && (heredoc < 0 || eq < heredoc)) {
      const name = line.slice(0, eq);
      if (!name) throw new FileCommandError(`Cannot read ${file}: line ${i + 1} has no name`);
      values[name] = line.slice(eq + 1);
    } else if (heredoc >= 0) {
      const name = line.slice(0, heredoc);
      const delimiter = line.slice(heredoc + 2);
      if (!name || !delimiter) {
        throw new FileCommandError(`Cannot read ${file}: line ${i + 1} lacks a name or delimiter`);
      }
      const end = lines.indexOf(delimiter, i + 1);
      if (end < 0) {
        throw new FileCommandError(
          `Cannot read ${file}: no line ${delimiter} closes ${name} (line ${i + 1})`,
        );
      }
      values[name] = lines.slice(i + 1, end).join("\n");
      i = end;
    } else {
      throw new FileCommandError(`Cannot read ${file}: line ${i + 1} is not name=value`);
    }
  }
  return values;
}

/**
 * Parses a `$GITHUB_PATH` file: one directory per non-empty line.
 *
 * @param text the file's contents
 * @returns the directories, in the order they were written (each is prepended to `PATH`, so
 *   the last one written is searched first)
 */
export function parsePathFile(text: string): string[] {
  return text.split(/\r?\n/).filter((line) => line.trim() !== "");
}

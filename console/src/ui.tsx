/**
 * Small building blocks shared by the pages: loading with a state that screen readers hear,
 * errors in the API's words, status badges, and `useLoad` (what a page reads, with reload).
 *
 * @module
 */
import type { ComponentChildren } from "preact";
import { useCallback, useEffect, useState } from "preact/hooks";
import { ApiProblem } from "./api.ts";

/** What a page has read so far. */
export type Loaded<T> =
  | { state: "loading" }
  | { state: "error"; problem: ApiProblem }
  | { state: "ready"; data: T };

/** An unknown failure as an {@link ApiProblem} (the page shows its message). */
export function asProblem(err: unknown): ApiProblem {
  if (err instanceof ApiProblem) return err;
  return new ApiProblem(0, "client", (err as Error)?.message ?? String(err), {});
}

/**
 * Reads data for a page; `reload` reads it again (after a decision, say).
 *
 * @param load the read; re-run when `deps` change
 */
export function useLoad<T>(load: () => Promise<T>, deps: unknown[]): [Loaded<T>, () => void] {
  const [loaded, setLoaded] = useState<Loaded<T>>({ state: "loading" });
  const [tick, setTick] = useState(0);
  useEffect(() => {
    let live = true;
    setLoaded((prev) => (prev.state === "ready" ? prev : { state: "loading" }));
    load().then(
      (data) => live && setLoaded({ state: "ready", data }),
      (err) => live && setLoaded({ state: "error", problem: asProblem(err) }),
    );
    return () => {
      live = false;
    };
  }, [...deps, tick]);
  const reload = useCallback(() => setTick((t) => t + 1), []);
  return [loaded, reload];
}

/** Shows a loading line, an error, or the content. */
export function Show<T>(
  props: { loaded: Loaded<T>; what: string; children: (data: T) => ComponentChildren },
) {
  const { loaded } = props;
  if (loaded.state === "loading") {
    return <p class="muted" role="status" aria-live="polite">Loading {props.what}…</p>;
  }
  if (loaded.state === "error") return <Problem problem={loaded.problem} what={props.what} />;
  return <>{props.children(loaded.data)}</>;
}

/** An error, in the API's words, announced to screen readers. */
export function Problem(props: { problem: ApiProblem; what?: string }) {
  const { problem } = props;
  return (
    <div class="problem" role="alert" data-code={problem.code}>
      <strong>
        {props.what ? `Cannot load ${props.what}` : "Refused"}
        {problem.status ? ` (${problem.status} ${problem.code})` : ""}:
      </strong>{" "}
      {problem.message}
    </div>
  );
}

/** A status as a coloured badge with its words (colour is never the only signal). */
export function Badge(props: { value: string | null | undefined }) {
  const v = props.value ?? "none";
  return <span class={`badge badge-${v.replace(/[^a-z_]/g, "")}`}>{v.replaceAll("_", " ")}</span>;
}

/** A link inside the single-page app. */
export function Link(props: { to: string; children: ComponentChildren; class?: string }) {
  return <a href={`#${props.to}`} class={props.class}>{props.children}</a>;
}

/**
 * A table of rows with column headers; wide tables scroll sideways at phone width. The caption
 * is read by screen readers, and shown when `showCaption`.
 */
export function Table(
  props: { caption: string; columns: string[]; showCaption?: boolean; children: ComponentChildren },
) {
  return (
    <div class="table-wrap">
      <table>
        <caption class={props.showCaption ? undefined : "sr-only"}>{props.caption}</caption>
        <thead>
          <tr>
            {props.columns.map((c) => <th key={c} scope="col">{c}</th>)}
          </tr>
        </thead>
        <tbody>{props.children}</tbody>
      </table>
    </div>
  );
}

/**
 * What an action led to: "Working…", the outcome, or the API's refusal (with `children`, a
 * hint beside it), announced to screen readers.
 */
export function Outcome(
  props: {
    busy: boolean;
    done: string | null;
    problem: ApiProblem | null;
    children?: ComponentChildren;
  },
) {
  return (
    <>
      <div aria-live="polite">
        {props.busy && <p class="muted">Working…</p>}
        {props.done && <p class="ok" role="status">{props.done}</p>}
      </div>
      {props.problem && (
        <div data-testid="action-problem">
          <Problem problem={props.problem} />
          {props.children}
        </div>
      )}
    </>
  );
}

/**
 * The console: signed out, the sign-in form; signed in, the navigation and the page the
 * address names (`#/`, `#/promotions?status=…`, `#/promotions/<id>`, `#/releases`,
 * `#/releases/<id>`, `#/audit`, `#/rollouts`, `#/rollouts/<id>`). The caller's role comes from `GET /ops/me`;
 * it only decides which buttons are offered — the API decides what happens.
 *
 * @module
 */
import type { Session, SupabaseClient } from "@supabase/supabase-js";
import { useEffect, useMemo, useState } from "preact/hooks";
import type { OpsAnswer } from "../../supabase/functions/_shared/api/contract.ts";
import { opsClient } from "./api.ts";
import { AuditPage } from "./pages/audit.tsx";
import { EnvironmentPage } from "./pages/environment.tsx";
import { PromotionPage } from "./pages/promotion.tsx";
import { type PromotionFilters, PromotionsPage, readFilters } from "./pages/promotions.tsx";
import { ReleasePage, ReleasesPage } from "./pages/releases.tsx";
import { RolloutPage, RolloutsPage } from "./pages/rollouts.tsx";
import { SignInPage } from "./pages/sign_in.tsx";
import { Show, useLoad } from "./ui.tsx";

function useHash(): string {
  const [hash, setHash] = useState(location.hash.slice(1) || "/");
  useEffect(() => {
    const on = () => setHash(location.hash.slice(1) || "/");
    addEventListener("hashchange", on);
    return () => removeEventListener("hashchange", on);
  }, []);
  return hash;
}

/** The whole console. */
export function App(props: { supabase: SupabaseClient; env: string }) {
  const { supabase } = props;
  const [session, setSession] = useState<Session | null | undefined>(undefined);
  useEffect(() => {
    supabase.auth.getSession().then(({ data }) => setSession(data.session));
    const { data } = supabase.auth.onAuthStateChange((_event, s) => setSession(s));
    return () => data.subscription.unsubscribe();
  }, []);
  if (session === undefined) return <p role="status" class="muted">Loading…</p>;
  if (session === null) return <SignInPage supabase={supabase} env={props.env} />;
  return <SignedIn supabase={supabase} env={props.env} userKey={session.user.id} />;
}

const NAV = [
  ["/", "Environment"],
  ["/promotions", "Promotions"],
  ["/releases", "Releases"],
  ["/audit", "Audit log"],
  ["/rollouts", "Rollouts"],
] as const;

function SignedIn(props: { supabase: SupabaseClient; env: string; userKey: string }) {
  const ops = useMemo(() => opsClient(props.supabase), [props.supabase]);
  const [me] = useLoad(() => ops("me"), [props.userKey]);
  const hash = useHash();
  const [path, search] = hash.split("?");
  // Move focus to the new page's heading, so a screen reader announces where we are.
  useEffect(() => {
    const t = setTimeout(() => document.getElementById("page-title")?.focus(), 0);
    return () => clearTimeout(t);
  }, [path]);
  const signOut = async () => {
    await props.supabase.auth.signOut();
    location.hash = "/";
  };
  return (
    <>
      <a
        class="skip"
        href="#main"
        onClick={(e) => {
          e.preventDefault();
          document.getElementById("page-title")?.focus();
        }}
      >
        Skip to content
      </a>
      <header>
        <span class="brand">Stagecoach · {props.env}</span>
        <nav aria-label="Main">
          <ul>
            {NAV.map(([to, label]) => {
              const current = to === "/" ? path === "/" : path.startsWith(to);
              return (
                <li>
                  <a href={`#${to}`} aria-current={current ? "page" : undefined}>{label}</a>
                </li>
              );
            })}
          </ul>
        </nav>
        <div class="who">
          <Show loaded={me} what="your account">
            {(m) => (
              <span data-testid="me">
                {m.email} · <strong>{m.role ?? "no role"}</strong>
              </span>
            )}
          </Show>
          <button type="button" onClick={signOut}>Sign out</button>
        </div>
      </header>
      <main id="main">
        <Show loaded={me} what="your account">
          {(m) => <Page ops={ops} me={m} path={path} search={search} env={props.env} />}
        </Show>
      </main>
    </>
  );
}

function Page(
  props: {
    ops: ReturnType<typeof opsClient>;
    me: OpsAnswer<"me">;
    path: string;
    search?: string;
    env: string;
  },
) {
  const { ops, me, path } = props;
  if (me.role === null) {
    return (
      <section>
        <h1 id="page-title" tabIndex={-1}>No access</h1>
        <p>You are signed in as {me.email}, who is not a member of this environment's ops team.</p>
      </section>
    );
  }
  const promotion = path.match(/^\/promotions\/([0-9a-f-]{36})$/);
  if (promotion) {
    return <PromotionPage ops={ops} id={promotion[1]} />;
  }
  const release = path.match(/^\/releases\/([0-9a-f-]{36})$/);
  if (release) return <ReleasePage ops={ops} id={release[1]} />;
  const rollout = path.match(/^\/rollouts\/([0-9a-f-]{36})$/);
  if (rollout) return <RolloutPage ops={ops} id={rollout[1]} />;
  if (path === "/promotions") {
    const filters = readFilters(props.search ?? "");
    const onFilter = (f: PromotionFilters) => {
      const next = new URLSearchParams();
      for (const [k, v] of Object.entries(f)) if (v) next.set(k, v);
      location.hash = `/promotions${next.size ? `?${next}` : ""}`;
    };
    return <PromotionsPage ops={ops} filters={filters} onFilter={onFilter} />;
  }
  if (path === "/releases") return <ReleasesPage ops={ops} />;
  if (path === "/audit") return <AuditPage ops={ops} />;
  if (path === "/rollouts") return <RolloutsPage ops={ops} />;
  if (path === "/") return <EnvironmentPage ops={ops} env={props.env} />;
  return (
    <section>
      <h1 id="page-title" tabIndex={-1}>Not found</h1>
      <p>
        Nothing lives at <span class="mono">{path}</span>. <a href="#/">Back to the environment</a>
      </p>
    </section>
  );
}

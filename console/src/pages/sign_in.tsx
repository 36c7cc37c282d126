/**
 * Sign-in with Supabase Auth (email and password) through supabase-js, which keeps the
 * session (and so the tokens) in its own storage.
 *
 * @module
 */
import type { SupabaseClient } from "@supabase/supabase-js";
import { useEffect, useRef, useState } from "preact/hooks";

/** The sign-in form. */
export function SignInPage(props: { supabase: SupabaseClient; env: string }) {
  const [problem, setProblem] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const email = useRef<HTMLInputElement>(null);
  useEffect(() => email.current?.focus(), []);
  const submit = async (e: Event) => {
    e.preventDefault();
    const form = new FormData(e.currentTarget as HTMLFormElement);
    setBusy(true);
    setProblem(null);
    const { error } = await props.supabase.auth.signInWithPassword({
      email: String(form.get("email") ?? ""),
      password: String(form.get("password") ?? ""),
    });
    setBusy(false);
    if (error) setProblem(error.message);
  };
  return (
    <main id="main" class="sign-in">
      <h1>Stagecoach console — {props.env}</h1>
      <form onSubmit={submit} aria-describedby={problem ? "sign-in-problem" : undefined}>
        <label for="email">Email</label>
        <input id="email" ref={email} name="email" type="email" autoComplete="username" required />
        <label for="password">Password</label>
        <input
          id="password"
          name="password"
          type="password"
          autoComplete="current-password"
          required
        />
        <button type="submit" disabled={busy}>{busy ? "Signing in…" : "Sign in"}</button>
        {problem && <p id="sign-in-problem" class="problem" role="alert">{problem}</p>}
      </form>
    </main>
  );
}

/**
 * The console's entry: reads the settings `build.ts` embedded in `index.html` (the
 * environment, its API URL and anon key — never a service key), creates the supabase-js client
 * and renders the app.
 *
 * @module
 */
import { createClient } from "@supabase/supabase-js";
import { render } from "preact";
import { losslessFetch } from "./api.ts";
import { App } from "./app.tsx";

interface EmbeddedConfig {
  env: string;
  supabaseUrl: string;
  anonKey: string;
}

const config = JSON.parse(
  document.getElementById("console-config")?.textContent ?? "null",
) as EmbeddedConfig;
const supabase = createClient(config.supabaseUrl, config.anonKey, {
  // Tokens stay where supabase-js keeps them (its storage); nothing else stores them.
  auth: { persistSession: true, autoRefreshToken: true, detectSessionInUrl: false },
  global: { fetch: losslessFetch(`${config.supabaseUrl}/functions/v1`) },
});
render(<App supabase={supabase} env={config.env} />, document.getElementById("app")!);

import { createApp, type App } from "../composition.js";
import { loadSettings } from "../config/settings.js";
import { redactingLogger } from "../log.js";

let app: App | undefined;

/**
 * The app every function uses, built once per worker process on first use from the validated app settings (a bad
 * setting fails the first invocation with the setting's name, not the host's start).
 */
export function getApp(): App {
  app ??= createApp({
    settings: loadSettings(process.env),
    log: redactingLogger({ info: (l) => console.info(l), warn: (l) => console.warn(l), error: (l) => console.error(l) }),
  });
  return app;
}

/** Replaces the app the functions use (tests wire it to the local stack); undefined goes back to the settings. */
export function provideApp(a: App | undefined): void {
  app = a;
}

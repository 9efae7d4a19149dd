/**
 * Upper bounds on every count and size a manifest can ask for. A spec is planned in
 * memory by the control plane and run as local processes, so a value such as
 * `replicas: 1e9` must be refused at load time, where it costs one line of error, and
 * never stored, where it would exhaust the heap on every start. docs/spec.md has the
 * table; keep the two in step.
 */
export const LIMITS = {
  /** Bytes of one manifest file (the API's request limit is 1 MiB of JSON around it). */
  fileBytes: 512 * 1024,
  /** Documents (resources) in one file. */
  documents: 100,
  /** Alias uses (`*name`) in one document. */
  aliases: 1000,
  /** YAML nodes that aliases may expand to in one document (billion-laughs guard). */
  aliasExpansion: 100_000,
  /** Nesting depth of free-form values (`jsonBody`, `body`, `expectJson`). */
  valueDepth: 32,
  /** Instances of one revision (`replicas`, `previewReplicaCount`, canary scale, …). */
  replicas: 1000,
  /** Revisions kept for undo. */
  revisionHistory: 100,
  /** Canary steps, including those Flagger's shorthand expands to. */
  steps: 100,
  /** Match routes in `traffic.routes`. */
  routes: 100,
  /** A/B variants. */
  variants: 10,
  /** Entries of env, secretEnv and args. */
  envEntries: 1000,
  /** Characters of one env value or argument (Linux refuses longer: MAX_ARG_STRLEN is 128 KiB). */
  envValueChars: 32 * 1024,
  /** Characters of all env names and values (or all args) of one template together. */
  envTotalChars: 256 * 1024,
  /** Entries of a map of labels, headers or metadata. */
  mapEntries: 64,
  /** Items of any other list (metrics, hooks, smoke checks, methods, ignorePaths…). */
  listItems: 100,
  /** Characters of a name, path, command, URL or other one-line text. */
  textChars: 4096,
  /** Characters of a response body (maintenance page). */
  bodyChars: 64 * 1024,
  /** Seconds of any duration: 7 days (Node timers overflow at 24.8 days). */
  durationSeconds: 7 * 24 * 3600,
  /** Any other whole number (thresholds, counts of requests, limits). */
  integer: 1_000_000,
  /** Feature flags in one file (all its FeatureFlag, FeatureFlags and flagd documents together). */
  flags: 10_000,
  /** Nesting depth of a flag's JsonLogic targeting (flagd's rules nest; 64 is far past any real one). */
  targetingDepth: 64,
  /** Bytes of a request body the router buffers or copies to a mirror. */
  bodyBytes: 64 * 1024 * 1024,
} as const;

// If this ever loads, a reference x402 package started to import a dependency the harness dropped
// (see tests/x402/package.json "overrides"): remove the override instead of working around it.
throw new Error('genim x402 harness: this dependency was stubbed out as unused (tests/x402/stubs/unused)')

// Package hostile throws what a careless or malicious client sends at a
// whole node: clients that trickle headers or never speak (slowloris) on
// every listener, floods of half-open connections and of logins against
// the real binary (its memory measured), headers over the limit, object
// keys and bucket names at and past every rule's edge, and sizes that
// are zero, negative, huge or not numbers on every face. Everything must
// end in a clean refusal or a faithful round trip, never a 5xx, a hang or
// a held connection. Fuzz
// targets for the parsers live next to the parsers; this package holds
// only tests.
package hostile

// Package console drives the web console in a real browser: Debian's
// chromium, headless, through the DevTools protocol (chromedp). A tenant
// signs in, creates a volume and watches it become available, snapshots
// and attaches it and reads the connection line, creates a bucket, uploads
// a 20 MiB file (in multipart parts, straight to the S3 listener) and a
// folder through the browser's own file inputs, downloads the file and
// shares a link that an anonymous client fetches, makes and revokes an S3
// key and signs out; a viewer sees no write buttons and no secrets, and
// another tenant's ids give the not-found page. It saves a screenshot of
// each main page at desktop and phone width (in $STOWAGE_CONSOLE_ARTIFACTS,
// or a new temporary folder it prints) and prints the volumes page's weight
// and the browser's time to first render. The package holds only tests.
package console

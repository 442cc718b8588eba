// Command stowage is the single binary of Stowage: server and client.
package main

import (
	"os"

	"github.com/stowage/stowage/internal/cli"
)

func main() {
	os.Exit(cli.Main(os.Args[1:], os.Stdin, os.Stdout, os.Stderr, os.Getenv))
}

package cli

import (
	"io"
	"strings"
	"testing"

	"github.com/spf13/cobra"
)

// TestEveryCommandHasAnExample keeps the help man-style: every command a
// person can run shows at least one example. Cobra's own help and
// completion commands document themselves.
func TestEveryCommandHasAnExample(t *testing.T) {
	a := &app{getenv: func(string) string { return "" }, stdin: strings.NewReader(""), stdout: io.Discard, stderr: io.Discard}
	root := a.root()
	root.InitDefaultHelpCmd()
	var walk func(c *cobra.Command)
	n := 0
	walk = func(c *cobra.Command) {
		if c.Name() == "help" || c.Name() == "completion" {
			return
		}
		n++
		// A group's help lists its commands, each with examples.
		switch {
		case c.HasSubCommands():
		case strings.TrimSpace(c.Example) == "":
			t.Errorf("%q has no example", c.CommandPath())
		case !strings.Contains(c.Example, c.CommandPath()):
			t.Errorf("%q: no example runs it:\n%s", c.CommandPath(), c.Example)
		}
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(root)
	if n < 60 {
		t.Errorf("walked only %d commands", n)
	}
}

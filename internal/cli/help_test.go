package cli

import (
	"io"
	"regexp"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
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

// TestHelpNamesOnlyRealCommands: every `stowage …` command a help text,
// example or flag description mentions exists; a group followed by a word
// that is none of its commands (say, `stowage volume types` before there
// was one) fails.
func TestHelpNamesOnlyRealCommands(t *testing.T) {
	a := &app{getenv: func(string) string { return "" }, stdin: strings.NewReader(""), stdout: io.Discard, stderr: io.Discard}
	root := a.root()
	// A command line starts a line (examples), follows a pipe, or sits in
	// parentheses or backquotes; elsewhere "stowage" is prose.
	mention := regexp.MustCompile("(?m)(?:^\\s*|\\| |[(`])stowage((?: [a-z][a-z0-9-]*)+)")
	n := 0
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		texts := []string{c.Short, c.Long, c.Example}
		c.LocalFlags().VisitAll(func(f *pflag.Flag) { texts = append(texts, f.Usage) })
		for _, text := range texts {
			for _, m := range mention.FindAllStringSubmatch(text, -1) {
				n++
				found, rest, err := root.Find(strings.Fields(m[1]))
				if err != nil || (found.HasAvailableSubCommands() && len(rest) > 0) {
					t.Errorf("%q mentions %q, which is no command (%v)", c.CommandPath(), m[0], err)
				}
			}
		}
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(root)
	if n < 60 {
		t.Errorf("found only %d mentions of commands", n)
	}
}

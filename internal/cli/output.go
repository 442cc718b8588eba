package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

// output prints results in the format the global flags chose: a table for
// people, JSON with stable field names for scripts, or ids only.
type output struct {
	w     io.Writer
	json  bool
	quiet bool
}

// row is one resource as a table row; id is what --quiet prints.
type row struct {
	id     string
	fields []string
}

// list prints many resources. v is what --json prints.
func (o output) list(v any, headers []string, rows []row) error {
	switch {
	case o.json:
		return o.printJSON(v)
	case o.quiet:
		for _, r := range rows {
			if _, err := fmt.Fprintln(o.w, r.id); err != nil {
				return err
			}
		}
		return nil
	}
	tw := tabwriter.NewWriter(o.w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, strings.Join(headers, "\t"))
	for _, r := range rows {
		fmt.Fprintln(tw, strings.Join(r.fields, "\t"))
	}
	return tw.Flush()
}

// one prints a single resource as "key: value" lines.
func (o output) one(v any, id string, pairs [][2]string) error {
	switch {
	case o.json:
		return o.printJSON(v)
	case o.quiet:
		_, err := fmt.Fprintln(o.w, id)
		return err
	}
	tw := tabwriter.NewWriter(o.w, 0, 4, 2, ' ', 0)
	for _, p := range pairs {
		fmt.Fprintf(tw, "%s:\t%s\n", p[0], p[1])
	}
	return tw.Flush()
}

func (o output) printJSON(v any) error {
	enc := json.NewEncoder(o.w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// plural counts things as people do: "1 bucket", "0 buckets", "3 buckets".
func plural(n int64, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

// decimal shortens an amount the server keeps to ten places: "2.0000000000"
// is 2.00, "0.0125000000" is 0.0125. Only zeros go, so nothing is rounded.
func decimal(s string) string {
	whole, frac, ok := strings.Cut(s, ".")
	if !ok {
		return s
	}
	frac = strings.TrimRight(frac, "0")
	for len(frac) < 2 {
		frac += "0"
	}
	return whole + "." + frac
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func ptrOrDash(s *string) string {
	if s == nil {
		return "-"
	}
	return *s
}

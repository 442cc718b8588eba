package cli

import (
	"encoding/csv"
	"fmt"
	"math"
	"net/url"
	"sort"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
)

// usagePoint is one period of one component, as GET /api/v1/usage answers.
type usagePoint struct {
	Start        string `json:"start"`
	ProjectID    string `json:"project_id"`
	ResourceType string `json:"resource_type,omitempty"`
	ResourceID   string `json:"resource_id,omitempty"`
	Component    string `json:"component"`
	Quantity     string `json:"quantity"`
	Unit         string `json:"unit"`
}

// sparkline draws values as one line of block characters, scaled to the
// largest.
func sparkline(vals []float64) string {
	const bars = "▁▂▃▄▅▆▇█"
	levels := []rune(bars)
	top := 0.0
	for _, v := range vals {
		top = math.Max(top, v)
	}
	var b strings.Builder
	for _, v := range vals {
		i := 0
		if top > 0 {
			i = int(math.Round(v / top * float64(len(levels)-1)))
		}
		b.WriteRune(levels[i])
	}
	return b.String()
}

func (a *app) usageCmd() *cobra.Command {
	var project, resource, component, from, to, granularity string
	var asCSV, spark bool
	cmd := &cobra.Command{
		Use: "usage", Short: "What projects used, per period: storage GiB-hours, requests, bytes moved",
		Long: `Usage integrates exactly: a level (bytes held) counts for the time it was
held, whatever the sample interval. Periods are UTC hours, days or months.`,
		Example: `  stowage usage --project PROJECT_ID --granularity day --from 2026-11-01 --to 2026-12-01
  stowage usage --resource VOLUME_ID --component volume_provisioned --sparkline
  stowage usage --granularity month --csv`,
		Args: args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := a.client()
			if err != nil {
				return err
			}
			q := url.Values{}
			for k, v := range map[string]string{"project": project, "resource": resource, "component": component, "from": from, "to": to, "granularity": granularity} {
				if v != "" {
					q.Set(k, v)
				}
			}
			var out struct {
				Items []usagePoint `json:"items"`
			}
			if err := c.Do(cmd.Context(), "GET", "/api/v1/usage", q, nil, &out); err != nil {
				return err
			}
			switch {
			case a.json:
				return a.out().printJSON(out.Items)
			case asCSV:
				w := csv.NewWriter(a.stdout)
				_ = w.Write([]string{"start", "project_id", "resource_type", "resource_id", "component", "quantity", "unit"})
				for _, p := range out.Items {
					_ = w.Write([]string{p.Start, p.ProjectID, p.ResourceType, p.ResourceID, p.Component, p.Quantity, p.Unit})
				}
				w.Flush()
				return w.Error()
			case spark:
				return a.usageSparklines(out.Items)
			}
			rows := make([]row, 0, len(out.Items))
			for _, p := range out.Items {
				who := p.ProjectID
				if p.ResourceID != "" {
					who = p.ResourceType + " " + p.ResourceID
				}
				rows = append(rows, row{id: p.Start, fields: []string{p.Start, who, p.Component, p.Quantity, p.Unit}})
			}
			return a.out().list(out.Items, []string{"START", "OF", "COMPONENT", "QUANTITY", "UNIT"}, rows)
		},
	}
	f := cmd.Flags()
	f.StringVar(&project, "project", "", "only this project")
	f.StringVar(&resource, "resource", "", "only this resource, per resource")
	f.StringVar(&component, "component", "", "only this component (volume_provisioned, s3_get_requests, …)")
	f.StringVar(&from, "from", "", "start: RFC 3339 time or YYYY-MM-DD (default: start of this month)")
	f.StringVar(&to, "to", "", "end: RFC 3339 time or YYYY-MM-DD (default: now)")
	f.StringVar(&granularity, "granularity", "", "hour (default), day or month")
	f.BoolVar(&asCSV, "csv", false, "print CSV")
	f.BoolVar(&spark, "sparkline", false, "print one sparkline per component")
	cmd.AddCommand(a.costsCmd(), a.invoiceCmd())
	return cmd
}

// usageSparklines prints, per component, its periods as a sparkline and
// its total.
func (a *app) usageSparklines(pts []usagePoint) error {
	type series struct {
		unit  string
		vals  []float64
		total float64
	}
	by := map[string]*series{}
	var starts []string
	seen := map[string]bool{}
	for _, p := range pts {
		if !seen[p.Start] {
			seen[p.Start] = true
			starts = append(starts, p.Start)
		}
	}
	sort.Strings(starts)
	idx := map[string]int{}
	for i, s := range starts {
		idx[s] = i
	}
	var names []string
	for _, p := range pts {
		s := by[p.Component]
		if s == nil {
			s = &series{unit: p.Unit, vals: make([]float64, len(starts))}
			by[p.Component] = s
			names = append(names, p.Component)
		}
		v, err := strconv.ParseFloat(p.Quantity, 64)
		if err != nil {
			return fmt.Errorf("quantity %q: %w", p.Quantity, err)
		}
		s.vals[idx[p.Start]] += v
		s.total += v
	}
	rows := make([]row, 0, len(names))
	for _, n := range names {
		s := by[n]
		rows = append(rows, row{id: n, fields: []string{n, sparkline(s.vals), strconv.FormatFloat(s.total, 'f', 6, 64), s.unit}})
	}
	return a.out().list(pts, []string{"COMPONENT", "PERIODS", "TOTAL", "UNIT"}, rows)
}

func (a *app) costsCmd() *cobra.Command {
	var project, from, to string
	cmd := &cobra.Command{
		Use: "costs", Short: "A project's usage priced by plan, per month and component",
		Example: "  stowage usage costs --project PROJECT_ID --from 2026-10 --to 2026-12", Args: args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, project, err := a.projectClient(cmd, project)
			if err != nil {
				return err
			}
			q := url.Values{}
			if from != "" {
				q.Set("from", from)
			}
			if to != "" {
				q.Set("to", to)
			}
			var out struct {
				Months []struct {
					Month      string `json:"month"`
					Currency   string `json:"currency"`
					Components []struct {
						Component string `json:"component"`
						Unit      string `json:"unit"`
						Quantity  string `json:"quantity"`
						Amount    string `json:"amount"`
					} `json:"components"`
					Total string `json:"total"`
				} `json:"months"`
			}
			if err := c.Do(cmd.Context(), "GET", "/api/v1/projects/"+url.PathEscape(project)+"/costs", q, nil, &out); err != nil {
				return err
			}
			var rows []row
			for _, m := range out.Months {
				for _, comp := range m.Components {
					rows = append(rows, row{id: m.Month, fields: []string{m.Month, comp.Component, comp.Quantity + " " + comp.Unit, comp.Amount, m.Currency}})
				}
				rows = append(rows, row{id: m.Month, fields: []string{m.Month, "total", "", m.Total, m.Currency}})
			}
			return a.out().list(out.Months, []string{"MONTH", "COMPONENT", "QUANTITY", "AMOUNT", "CURRENCY"}, rows)
		},
	}
	cmd.Flags().StringVar(&project, "project", "", "project (default: the only one you see)")
	cmd.Flags().StringVar(&from, "from", "", "first month, YYYY-MM (default: this month)")
	cmd.Flags().StringVar(&to, "to", "", "last month, YYYY-MM (default: --from)")
	return cmd
}

func (a *app) invoiceCmd() *cobra.Command {
	var asCSV bool
	cmd := &cobra.Command{
		Use: "invoice ORGANISATION_ID MONTH", Short: "An organisation's invoice for a month (YYYY-MM), as JSON or CSV",
		Example: "  stowage usage invoice ORGANISATION_ID 2026-11 --csv > invoice.csv", Args: args(cobra.ExactArgs(2)),
		RunE: func(cmd *cobra.Command, argv []string) error {
			c, err := a.client()
			if err != nil {
				return err
			}
			q := url.Values{"format": {"json"}}
			if asCSV {
				q.Set("format", "csv")
			}
			var body []byte
			if err := c.Do(cmd.Context(), "GET", "/api/v1/organisations/"+url.PathEscape(argv[0])+"/invoices/"+url.PathEscape(argv[1]), q, nil, &body); err != nil {
				return err
			}
			_, err = a.stdout.Write(body)
			return err
		},
	}
	cmd.Flags().BoolVar(&asCSV, "csv", false, "print CSV instead of JSON")
	return cmd
}

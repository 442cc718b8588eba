package metering

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"math/big"
	"time"

	"github.com/stowage/stowage/internal/core/identity"
	"github.com/stowage/stowage/internal/errs"
)

// Invoice is one organisation's usage of one month, priced. It holds
// nothing that depends on when it was made, so the same month of the same
// rows gives the same bytes every time.
type Invoice struct {
	OrganisationID   string        `json:"organisation_id"`
	OrganisationName string        `json:"organisation_name"`
	Month            string        `json:"month"`
	PeriodStart      time.Time     `json:"period_start"`
	PeriodEnd        time.Time     `json:"period_end"`
	Currency         string        `json:"currency"`
	Lines            []InvoiceLine `json:"lines"`
	Total            string        `json:"total"`
}

// InvoiceLine is one component of one resource.
type InvoiceLine struct {
	ProjectID    string `json:"project_id"`
	ProjectName  string `json:"project_name"`
	ResourceType string `json:"resource_type"`
	ResourceID   string `json:"resource_id"`
	Component    string `json:"component"`
	Unit         string `json:"unit"`
	Quantity     string `json:"quantity"`
	UnitPrice    string `json:"unit_price"`
	Amount       string `json:"amount"`
}

// ParseMonth reads YYYY-MM.
func ParseMonth(s string) (time.Time, error) {
	t, err := time.Parse("2006-01", s)
	if err != nil {
		return time.Time{}, errs.Field("month", "month must be YYYY-MM")
	}
	return t.UTC(), nil
}

// Invoice prices the month of an organisation the caller may see.
func (s *Service) Invoice(ctx context.Context, p identity.Principal, orgID string, month time.Time) (Invoice, error) {
	org, err := s.projects.GetOrganisation(ctx, p, orgID)
	if err != nil {
		return Invoice{}, err
	}
	start, end := MonthBounds(month)
	projects, err := s.projectsOf(ctx, p, "", orgID)
	if err != nil {
		return Invoice{}, err
	}
	names := map[string]string{}
	for _, pr := range projects {
		names[pr.ID] = pr.Name
	}
	rows, err := s.rows(ctx, projects, Query{From: start, To: end})
	if err != nil {
		return Invoice{}, err
	}
	book, err := s.prices.UsagePrices(ctx)
	if err != nil {
		return Invoice{}, fmt.Errorf("invoice: %w", err)
	}
	inv := Invoice{OrganisationID: org.ID, OrganisationName: org.Name, Month: start.Format("2006-01"),
		PeriodStart: start, PeriodEnd: end, Currency: s.o.Currency, Lines: []InvoiceLine{}}
	total := new(big.Rat)
	for _, l := range bill(rows, book, projects, start, end) {
		total.Add(total, l.amount)
		inv.Lines = append(inv.Lines, InvoiceLine{ProjectID: l.ref.ProjectID, ProjectName: names[l.ref.ProjectID],
			ResourceType: l.ref.Type, ResourceID: l.ref.ID, Component: l.component, Unit: l.unit,
			Quantity: l.quantity.FloatString(6), UnitPrice: l.price.FloatString(8), Amount: l.amount.FloatString(6)})
	}
	inv.Total = total.FloatString(2)
	return inv, nil
}

// JSON renders the invoice, indented, with a final newline.
func (inv Invoice) JSON() ([]byte, error) {
	b, err := json.MarshalIndent(inv, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("invoice json: %w", err)
	}
	return append(b, '\n'), nil
}

// CSV renders the invoice as one row per line and a total row.
func (inv Invoice) CSV() ([]byte, error) {
	var buf bytes.Buffer
	w := csv.NewWriter(&buf)
	_ = w.Write([]string{"organisation_id", "month", "project_id", "project_name", "resource_type", "resource_id",
		"component", "unit", "quantity", "unit_price", "amount", "currency"})
	for _, l := range inv.Lines {
		_ = w.Write([]string{inv.OrganisationID, inv.Month, l.ProjectID, l.ProjectName, l.ResourceType, l.ResourceID,
			l.Component, l.Unit, l.Quantity, l.UnitPrice, l.Amount, inv.Currency})
	}
	_ = w.Write([]string{inv.OrganisationID, inv.Month, "", "", "", "", "total", "", "", "", inv.Total, inv.Currency})
	w.Flush()
	if err := w.Error(); err != nil {
		return nil, fmt.Errorf("invoice csv: %w", err)
	}
	return buf.Bytes(), nil
}

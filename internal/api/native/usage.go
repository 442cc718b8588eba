package native

import (
	"net/http"
	"time"

	"github.com/stowage/stowage/internal/core/metering"
	"github.com/stowage/stowage/internal/errs"
	"github.com/stowage/stowage/internal/httpapi"
)

// WithMetering adds usage, costs and invoices.
func (a *API) WithMetering(m *metering.Service) *API {
	a.metering = m
	return a
}

// parseTime reads an RFC 3339 time or a YYYY-MM-DD date (UTC midnight).
func parseTime(field, v string) (time.Time, error) {
	if v == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339, v); err == nil {
		return t.UTC(), nil
	}
	if t, err := time.Parse(time.DateOnly, v); err == nil {
		return t, nil
	}
	return time.Time{}, errs.Field(field, "%s must be an RFC 3339 time or a YYYY-MM-DD date", field)
}

func parseMonth(field, v string) (time.Time, error) {
	if v == "" {
		return time.Time{}, nil
	}
	t, err := metering.ParseMonth(v)
	if err != nil {
		return time.Time{}, errs.Field(field, "%s must be YYYY-MM", field)
	}
	return t, nil
}

func (a *API) getUsage(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	from, err := parseTime("from", q.Get("from"))
	if err != nil {
		return err
	}
	to, err := parseTime("to", q.Get("to"))
	if err != nil {
		return err
	}
	mq := metering.Query{ProjectID: q.Get("project"), ResourceID: q.Get("resource"), Component: q.Get("component"),
		From: from, To: to, Granularity: q.Get("granularity")}
	pts, err := a.metering.Usage(r.Context(), httpapi.Principal(r.Context()), mq)
	if err != nil {
		return err
	}
	return httpapi.WriteJSON(w, http.StatusOK, map[string]any{"items": pts})
}

func (a *API) getCosts(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	from, err := parseMonth("from", q.Get("from"))
	if err != nil {
		return err
	}
	to, err := parseMonth("to", q.Get("to"))
	if err != nil {
		return err
	}
	id := r.PathValue("id")
	months, err := a.metering.Costs(r.Context(), httpapi.Principal(r.Context()), id, from, to)
	if err != nil {
		return err
	}
	return httpapi.WriteJSON(w, http.StatusOK, map[string]any{"project_id": id, "months": months})
}

// getInvoice answers JSON, or CSV with ?format=csv.
func (a *API) getInvoice(w http.ResponseWriter, r *http.Request) error {
	month, err := parseMonth("month", r.PathValue("month"))
	if err != nil {
		return err
	}
	format := r.URL.Query().Get("format")
	if format != "" && format != "json" && format != "csv" {
		return errs.Field("format", "format must be json or csv")
	}
	inv, err := a.metering.Invoice(r.Context(), httpapi.Principal(r.Context()), r.PathValue("id"), month)
	if err != nil {
		return err
	}
	body, ctype, ext := []byte(nil), "application/json", "json"
	if format == "csv" {
		body, err = inv.CSV()
		ctype, ext = "text/csv; charset=utf-8", "csv"
	} else {
		body, err = inv.JSON()
	}
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", ctype)
	w.Header().Set("Content-Disposition", `attachment; filename="invoice-`+inv.OrganisationID+"-"+inv.Month+"."+ext+`"`)
	w.WriteHeader(http.StatusOK)
	_, err = w.Write(body)
	return err
}

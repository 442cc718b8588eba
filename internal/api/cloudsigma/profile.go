package cloudsigma

import (
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"time"

	"github.com/stowage/stowage/internal/core/identity"
	"github.com/stowage/stowage/internal/httpapi"
)

// profileField is one field of the profile as CloudSigma documents it.
// Fields the service keeps are writable; the billing and security switches
// it does not have are shown with fixed values, and a PUT may send them
// back unchanged (clients PUT the whole GET result) but not change them.
type profileField struct {
	name     string
	typ      string // string, boolean, decimal, dict, datetime
	readonly bool
	nullable bool
	def      any
	help     string
	fixed    any // the value of a field the service does not keep
}

func profileFields() []profileField {
	contact := func(name, help string, def any) profileField {
		return profileField{name: name, typ: "string", def: def, help: help}
	}
	return []profileField{
		contact("address", "Address", ""),
		{name: "api_https_only", typ: "boolean", def: false, fixed: false, help: "Allow API access over HTTPS only"},
		{name: "autotopup_amount", typ: "decimal", def: 0, fixed: "0", help: "Automatic top-up amount"},
		{name: "autotopup_threshold", typ: "decimal", def: 0, fixed: "0", help: "Automatic top-up threshold"},
		{name: "bank_reference", typ: "string", readonly: true, nullable: true, def: noDefault, help: "Bank reference"},
		{name: "clone_naming", typ: "string", def: "NONE", help: "How clones are named when no name is given: NONE, COUNTER, DATE or TIMESTAMP"},
		contact("company", "Company", ""),
		contact("country", "Country", ""),
		{name: "currency", typ: "string", readonly: true, nullable: true, def: noDefault, help: "Billing currency"},
		{name: "email", typ: "string", readonly: true, def: noDefault, help: "E-mail"},
		{name: "first_name", typ: "string", def: "", help: "First name"},
		{name: "has_autotopup", typ: "boolean", def: false, fixed: false, help: "Automatic top-up"},
		{name: "has_tx_autotopup", typ: "boolean", def: false, fixed: false, help: "Automatic transfer top-up"},
		{name: "invoicing", typ: "boolean", def: true, fixed: true, help: "Send invoices"},
		{name: "key_auth", typ: "boolean", def: false, fixed: false, help: "Authentication with keys only"},
		contact("language", "Language", "EN"),
		{name: "last_name", typ: "string", def: "", help: "Last name"},
		{name: "mailing_list", typ: "boolean", def: true, fixed: true, help: "Receive the mailing list"},
		{name: "meta", typ: "dict", def: noDefault, help: "User defined meta information"},
		{name: "my_notes", typ: "string", nullable: true, def: "", help: "Notes"},
		{name: "network_restrictions", typ: "string", readonly: true, nullable: true, def: noDefault, help: "Networks API access is allowed from"},
		contact("nickname", "Nickname", ""),
		contact("phone", "Phone", ""),
		{name: "postcode", typ: "string", nullable: true, def: "", help: "Postcode"},
		contact("reseller", "Reseller", ""),
		{name: "signup_time", typ: "datetime", readonly: true, def: noDefault, help: "When the user was created"},
		{name: "state", typ: "string", readonly: true, def: noDefault, help: "State of the account"},
		{name: "tax_name", typ: "string", readonly: true, nullable: true, def: noDefault, help: "Tax name"},
		{name: "tax_rate", typ: "decimal", readonly: true, nullable: true, def: noDefault, help: "Tax rate"},
		contact("title", "Title", ""),
		contact("town", "Town", ""),
		{name: "tx_autotopup_amount", typ: "decimal", def: 0, fixed: "0", help: "Automatic transfer top-up amount"},
		{name: "tx_autotopup_threshold", typ: "decimal", def: 0, fixed: "0", help: "Automatic transfer top-up threshold"},
		{name: "uuid", typ: "string", readonly: true, def: noDefault, help: "UUID of the user"},
		contact("vat", "VAT number", ""),
	}
}

// profileJSON renders a profile; the account is always in good standing
// (state REGULAR): this service has no trial or suspended accounts.
func profileJSON(u identity.User, pr identity.Profile) map[string]any {
	out := map[string]any{}
	for _, f := range profileFields() {
		switch {
		case f.fixed != nil:
			out[f.name] = f.fixed
		case f.nullable && f.readonly:
			out[f.name] = nil
		case slices.Contains(identity.ContactFields, f.name):
			v, ok := pr.Contact[f.name]
			if !ok {
				v, _ = f.def.(string)
			}
			out[f.name] = v
		}
	}
	out["clone_naming"] = pr.CloneNaming
	out["email"] = u.Email
	out["first_name"] = pr.FirstName
	out["last_name"] = pr.LastName
	out["meta"] = pr.Meta
	out["signup_time"] = u.Created.UTC().Format("2006-01-02T15:04:05.000000+00:00")
	out["state"] = "REGULAR"
	out["uuid"] = u.ID
	out["username"] = u.Username // not CloudSigma's; kept for this service's clients
	return out
}

func (a *API) profile(w http.ResponseWriter, r *http.Request) error {
	p := httpapi.Principal(r.Context())
	pr, err := a.identity.Profile(r.Context(), p)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, profileJSON(p.User, pr))
	return nil
}

// editProfile changes what the user may change; read-only fields are
// ignored, as clients PUT back what they read.
func (a *API) editProfile(w http.ResponseWriter, r *http.Request) error {
	body, err := a.readBody(r)
	if err != nil {
		return err
	}
	if body == nil {
		body = json.RawMessage("{}")
	}
	var m map[string]json.RawMessage
	if json.Unmarshal(body, &m) != nil || m == nil {
		return newError(http.StatusBadRequest, "validation", "", "A profile must be a JSON object")
	}
	u := identity.ProfileUpdate{Contact: map[string]string{}}
	var bad []tpError
	fail := func(point, format string, args ...any) {
		bad = append(bad, newError(http.StatusBadRequest, "validation", point, format, args...).errs...)
	}
	for _, f := range profileFields() {
		v, ok := m[f.name]
		if !ok || f.readonly {
			continue
		}
		if string(v) == "null" {
			if !f.nullable {
				fail(f.name, "%s may not be null", f.name)
			}
			continue
		}
		if f.fixed != nil {
			if !sameValue(f.typ, v, f.fixed) {
				fail(f.name, "%s cannot be changed on this service", f.name)
			}
			continue
		}
		switch f.typ {
		case "dict":
			var mm map[string]string
			if json.Unmarshal(v, &mm) != nil {
				fail(f.name, "%s must be a dictionary of strings", f.name)
				continue
			}
			u.Meta = &mm
		default:
			var s string
			if json.Unmarshal(v, &s) != nil {
				fail(f.name, "%s must be a string", f.name)
				continue
			}
			switch f.name {
			case "first_name":
				u.FirstName = &s
			case "last_name":
				u.LastName = &s
			case "clone_naming":
				u.CloneNaming = &s
			default:
				u.Contact[f.name] = s
			}
		}
	}
	if len(bad) > 0 {
		return apiError{http.StatusBadRequest, bad}
	}
	p := httpapi.Principal(r.Context())
	pr, err := a.identity.UpdateProfile(r.Context(), p, u)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, profileJSON(p.User, pr))
	return nil
}

// sameValue reports whether a sent value equals a fixed one; decimals
// compare as numbers, sent as strings ("0E-16") or numbers.
func sameValue(typ string, v json.RawMessage, fixed any) bool {
	if typ == "decimal" {
		var s string
		if json.Unmarshal(v, &s) != nil {
			s = string(v)
		}
		got, err1 := strconv.ParseFloat(s, 64)
		want, err2 := strconv.ParseFloat(fmt.Sprint(fixed), 64)
		return err1 == nil && err2 == nil && got == want
	}
	var b bool
	return json.Unmarshal(v, &b) == nil && b == fixed
}

func (a *API) profileSchema(w http.ResponseWriter, r *http.Request) error {
	fields := map[string]any{}
	for _, f := range profileFields() {
		fields[f.name] = map[string]any{"blank": false, "default": f.def, "help_text": f.help, "nullable": f.nullable,
			"readonly": f.readonly || f.fixed != nil, "type": f.typ, "unique": false}
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"allowed_detail_http_methods": []string{"get", "put"},
		"allowed_list_http_methods":   []string{"get", "put"},
		"default_format":              "application/json",
		"default_limit":               defaultLimit,
		"fields":                      fields,
	})
	return nil
}

var (
	counterSuffix   = regexp.MustCompile(`^(.*)_(\d+)$`)
	dateSuffix      = regexp.MustCompile(`^(.*)-(\d{4}-\d{2}-\d{2})$`)
	timestampSuffix = regexp.MustCompile(`^(.*)-(\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2})$`)
)

// cloneName names a clone the caller did not name, by their profile's
// clone naming: NONE keeps the name; COUNTER appends _1 or advances a
// trailing counter; DATE and TIMESTAMP append or replace a trailing date
// or timestamp, and count instead when it is already current.
func cloneName(name, naming string, now time.Time) string {
	counter := func(n string) string {
		if m := counterSuffix.FindStringSubmatch(n); m != nil {
			i, err := strconv.Atoi(m[2])
			if err == nil {
				return fmt.Sprintf("%s_%d", m[1], i+1)
			}
		}
		return n + "_1"
	}
	stamp := func(re *regexp.Regexp, layout string) string {
		cur := now.UTC().Format(layout)
		base := name
		if m := re.FindStringSubmatch(name); m != nil {
			if m[2] == cur {
				return counter(name)
			}
			base = m[1]
		}
		return base + "-" + cur
	}
	switch naming {
	case "COUNTER":
		return counter(name)
	case "DATE":
		return stamp(dateSuffix, "2006-01-02")
	case "TIMESTAMP":
		return stamp(timestampSuffix, "2006-01-02 15:04:05")
	}
	return name
}

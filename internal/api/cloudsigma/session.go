package cloudsigma

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/stowage/stowage/internal/core/identity"
	"github.com/stowage/stowage/internal/httpapi"
)

// Session login as pycloudsigma's login_method=session does it: the
// sessionid cookie carries a signed session, and the csrftoken cookie a
// value that writes must echo in X-CSRFToken.
const (
	sessionCookie = "sessionid"
	csrfCookie    = "csrftoken"
	sessionTTL    = 1209600 * time.Second // Django's two weeks
	csrfMaxAge    = 31449600
)

// csrfFor derives the CSRF token from the session, so a token only works
// with the session it was issued with and nothing needs storing.
func csrfFor(session string) string {
	sum := sha256.Sum256([]byte("cloudsigma-csrf:" + session))
	return hex.EncodeToString(sum[:16])
}

// checkCSRF refuses writes authenticated by the session cookie alone unless
// X-CSRFToken matches it; requests with an Authorization header carry
// their own credentials and need no token.
func checkCSRF(h httpapi.HandlerFunc) httpapi.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		switch r.Method {
		case http.MethodGet, http.MethodHead, http.MethodOptions:
			return h(w, r)
		}
		if r.Header.Get("Authorization") != "" {
			return h(w, r)
		}
		c, err := r.Cookie(sessionCookie)
		if err != nil {
			return h(w, r)
		}
		want := csrfFor(c.Value)
		if subtle.ConstantTimeCompare([]byte(r.Header.Get("X-CSRFToken")), []byte(want)) != 1 {
			return newError(http.StatusForbidden, "permission", "", "CSRF verification failed: send the csrftoken cookie's value in X-CSRFToken")
		}
		return h(w, r)
	}
}

func (a *API) accountAction(w http.ResponseWriter, r *http.Request) error {
	switch do := r.URL.Query().Get("do"); do {
	case "login":
		return a.login(w, r)
	case "logout":
		// Clearing the cookies is not enough: a copy of the session kept
		// elsewhere would still work, so the session itself ends.
		if c, err := r.Cookie(sessionCookie); err == nil {
			if err := a.identity.EndSession(r.Context(), c.Value, identity.AudienceCloudSigma); err != nil {
				return err
			}
		}
		for _, n := range []string{sessionCookie, csrfCookie} {
			http.SetCookie(w, &http.Cookie{Name: n, Value: "", Path: "/", MaxAge: -1})
		}
		writeJSON(w, http.StatusOK, map[string]any{})
		return nil
	default:
		return newError(http.StatusBadRequest, "validation", "do", "Unknown action %s", do)
	}
}

func (a *API) login(w http.ResponseWriter, r *http.Request) error {
	body, err := a.readBody(r)
	if err != nil {
		return err
	}
	var in struct {
		Username string `json:"username"`
		Password string `json:"password"`
	}
	if body == nil || json.Unmarshal(body, &in) != nil {
		return required("username")
	}
	if in.Username == "" {
		return required("username")
	}
	if in.Password == "" {
		return required("password")
	}
	p, err := a.identity.AuthenticatePassword(r.Context(), in.Username, in.Password, httpapi.ClientIP(r))
	if err != nil {
		return fmt.Errorf("login %s: %w", in.Username, err)
	}
	session, _ := a.identity.IssueSession(p, sessionTTL, identity.AudienceCloudSigma)
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: session, Path: "/", MaxAge: int(sessionTTL / time.Second),
		HttpOnly: true, SameSite: http.SameSiteStrictMode})
	http.SetCookie(w, &http.Cookie{Name: csrfCookie, Value: csrfFor(session), Path: "/", MaxAge: csrfMaxAge, SameSite: http.SameSiteStrictMode})
	writeJSON(w, http.StatusOK, map[string]any{"email": p.User.Email, "uuid": p.User.ID, "username": p.User.Username})
	return nil
}

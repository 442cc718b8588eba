package isolation

import (
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/stowage/stowage/internal/testenv"
)

// person is a user with an unbound API token of their own.
type person struct {
	id, name, password, token string
}

// team is an organisation with one project and someone in every role:
// the owner owns the organisation, the others hold their role on the
// project; bound is a token of the member's, bound to the project.
type team struct {
	r                            string
	org, project                 string
	owner, admin, member, viewer person
	bound, boundID               string
	removed                      person
	// removedKey is the S3 key the removed member made while a member.
	removedKey aws.Credentials
}

func newPerson(t *testing.T, e *testenv.Env, label string) person {
	t.Helper()
	p := person{name: label, password: "pw-" + label}
	p.id, p.token = newUser(t, e, p.name, p.password)
	return p
}

// newTeam builds a team; removed was a member of the project and is no
// longer.
func newTeam(t *testing.T, e *testenv.Env) *team {
	t.Helper()
	r := randomHex(4)
	tm := &team{r: r}
	tm.owner, tm.admin, tm.member = newPerson(t, e, "owner-"+r), newPerson(t, e, "admin-"+r), newPerson(t, e, "member-"+r)
	tm.viewer, tm.removed = newPerson(t, e, "viewer-"+r), newPerson(t, e, "removed-"+r)
	tm.org = str(api(t, e, e.AdminToken, "POST", "/api/v1/organisations", obj{"name": "org-" + r}, 201), "id")
	api(t, e, e.AdminToken, "POST", "/api/v1/organisations/"+tm.org+"/members", obj{"user_id": tm.owner.id, "role": "owner"}, 201)
	// Staff made the organisation and so owned it; it reaches every
	// project anyway, and the owner should be the only one.
	staff := str(api(t, e, e.AdminToken, "GET", "/api/v1/users/me", nil, 200), "id")
	api(t, e, e.AdminToken, "DELETE", "/api/v1/organisations/"+tm.org+"/members/"+staff, nil, 204)
	tm.project = str(api(t, e, tm.owner.token, "POST", "/api/v1/projects", obj{"organisation_id": tm.org, "name": "proj-" + r}, 201), "id")
	for _, m := range []struct {
		p    person
		role string
	}{{tm.admin, "admin"}, {tm.member, "member"}, {tm.viewer, "viewer"}, {tm.removed, "member"}} {
		api(t, e, tm.owner.token, "POST", "/api/v1/projects/"+tm.project+"/members", obj{"user_id": m.p.id, "role": m.role}, 201)
	}
	c := api(t, e, tm.removed.token, "POST", "/api/v1/projects/"+tm.project+"/credentials", nil, 201)
	tm.removedKey = aws.Credentials{AccessKeyID: str(c, "access_key_id"), SecretAccessKey: str(c, "secret_access_key")}
	tok := api(t, e, tm.member.token, "POST", "/api/v1/tokens", obj{"name": "bound", "project_id": tm.project}, 201)
	tm.bound, tm.boundID = str(tok, "token"), str(tok, "id")
	api(t, e, tm.owner.token, "DELETE", "/api/v1/projects/"+tm.project+"/members/"+tm.removed.id, nil, 204)
	return tm
}

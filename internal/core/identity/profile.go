package identity

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/stowage/stowage/internal/errs"
)

// Profile is what users say about themselves beyond their login: names,
// contact details, how clones they do not name are named, and free-form
// metadata. Users edit only their own; every face shows the parts it knows.
type Profile struct {
	UserID    string
	FirstName string
	LastName  string
	// Contact holds the contact fields of ContactFields, by name.
	Contact map[string]string
	// CloneNaming is one of CloneNamings.
	CloneNaming string
	Meta        map[string]string
	Updated     time.Time
}

// ContactFields are the free-text contact details a profile keeps.
var ContactFields = []string{"address", "company", "country", "language", "my_notes", "nickname", "phone", "postcode",
	"reseller", "title", "town", "vat"}

// CloneNamings are the ways an unnamed clone is named: keep the source's
// name, or append (or advance) a counter, a date or a timestamp.
var CloneNamings = []string{"NONE", "COUNTER", "DATE", "TIMESTAMP"}

// ProfileUpdate holds what a user may change; nil leaves a field alone,
// and Contact changes only the keys it has.
type ProfileUpdate struct {
	FirstName   *string
	LastName    *string
	Contact     map[string]string
	CloneNaming *string
	Meta        *map[string]string
}

// Profile returns the caller's profile; a user who never saved one has
// their full name as first name and clones keep their source's name.
func (s *Service) Profile(ctx context.Context, p Principal) (Profile, error) {
	pr, err := s.store.GetProfile(ctx, p.User.ID)
	if errs.Is(err, errs.NotExist) {
		return Profile{UserID: p.User.ID, FirstName: p.User.FullName, Contact: map[string]string{}, CloneNaming: "NONE",
			Meta: map[string]string{}, Updated: p.User.Created}, nil
	}
	if err != nil {
		return Profile{}, fmt.Errorf("profile of %s: %w", p.User.ID, err)
	}
	return pr, nil
}

// UpdateProfile changes the caller's own profile. The profile is the
// user's, not a project's, so a project-bound token may read it but not
// change it, as it may not change the password.
func (s *Service) UpdateProfile(ctx context.Context, p Principal, u ProfileUpdate) (Profile, error) {
	if err := unbound(p, "change the profile"); err != nil {
		return Profile{}, err
	}
	pr, err := s.Profile(ctx, p)
	if err != nil {
		return Profile{}, err
	}
	text := func(field, v string) error {
		if len(v) > 1024 {
			return errs.Field(field, "%s must be at most 1024 bytes", field)
		}
		return nil
	}
	if u.FirstName != nil {
		if err := text("first_name", *u.FirstName); err != nil {
			return Profile{}, err
		}
		pr.FirstName = *u.FirstName
	}
	if u.LastName != nil {
		if err := text("last_name", *u.LastName); err != nil {
			return Profile{}, err
		}
		pr.LastName = *u.LastName
	}
	for k, v := range u.Contact {
		if !slices.Contains(ContactFields, k) {
			return Profile{}, errs.Field(k, "%s is not a profile field", k)
		}
		if err := text(k, v); err != nil {
			return Profile{}, err
		}
		pr.Contact[k] = v
	}
	if u.CloneNaming != nil {
		if !slices.Contains(CloneNamings, *u.CloneNaming) {
			return Profile{}, errs.Field("clone_naming", "clone_naming must be one of %v", CloneNamings)
		}
		pr.CloneNaming = *u.CloneNaming
	}
	if u.Meta != nil {
		if len(*u.Meta) > 64 {
			return Profile{}, errs.Field("meta", "at most 64 meta keys")
		}
		for k, v := range *u.Meta {
			if k == "" || len(k) > 255 || len(v) > 1024 {
				return Profile{}, errs.Field("meta", "meta keys must be 1-255 bytes and values at most 1024 bytes")
			}
		}
		pr.Meta = *u.Meta
	}
	pr.Updated = s.now().UTC()
	if err := s.store.PutProfile(ctx, pr); err != nil {
		return Profile{}, fmt.Errorf("update profile of %s: %w", p.User.ID, err)
	}
	return pr, nil
}

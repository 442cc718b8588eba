package sqlstore

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/stowage/stowage/internal/core/identity"
)

// profileDoc is the stored JSON of a profile.
type profileDoc struct {
	FirstName   string            `json:"first_name"`
	LastName    string            `json:"last_name"`
	Contact     map[string]string `json:"contact"`
	CloneNaming string            `json:"clone_naming"`
	Meta        map[string]string `json:"meta"`
}

func (s *Store) GetProfile(ctx context.Context, userID string) (identity.Profile, error) {
	var doc string
	var updated int64
	err := s.r.QueryRowContext(ctx, "SELECT profile, updated_at FROM user_profiles WHERE user_id = $1", userID).Scan(&doc, &updated)
	if err != nil {
		return identity.Profile{}, notFound(err, "profile", userID)
	}
	var d profileDoc
	if err := json.Unmarshal([]byte(doc), &d); err != nil {
		return identity.Profile{}, fmt.Errorf("profile of %s: %w", userID, err)
	}
	pr := identity.Profile{UserID: userID, FirstName: d.FirstName, LastName: d.LastName, Contact: d.Contact,
		CloneNaming: d.CloneNaming, Meta: d.Meta, Updated: fromTS(updated)}
	if pr.Contact == nil {
		pr.Contact = map[string]string{}
	}
	if pr.Meta == nil {
		pr.Meta = map[string]string{}
	}
	return pr, nil
}

func (s *Store) PutProfile(ctx context.Context, pr identity.Profile) error {
	doc := jsonText(profileDoc{FirstName: pr.FirstName, LastName: pr.LastName, Contact: pr.Contact, CloneNaming: pr.CloneNaming, Meta: pr.Meta})
	_, err := s.w.ExecContext(ctx, `INSERT INTO user_profiles (user_id, profile, updated_at) VALUES ($1, $2, $3)
		ON CONFLICT (user_id) DO UPDATE SET profile = excluded.profile, updated_at = excluded.updated_at`, pr.UserID, doc, ts(pr.Updated))
	return mapErr(err)
}

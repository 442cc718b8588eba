package identity

import (
	"context"
	"fmt"

	"github.com/stowage/stowage/internal/core/access"
	"github.com/stowage/stowage/internal/core/page"
	"github.com/stowage/stowage/internal/errs"
)

// OperatorOrganisation returns the organisation the first start created
// for the operator. It stands for the service provider where a face needs
// one (Waldur's provider customer of every offering): organisations are
// never deleted and ids are time-ordered, so it is the oldest one.
func (s *Service) OperatorOrganisation(ctx context.Context) (Organisation, error) {
	orgs, err := s.store.ListOrganisations(ctx, access.System, page.Request{Limit: 1})
	if err != nil {
		return Organisation{}, fmt.Errorf("operator organisation: %w", err)
	}
	if len(orgs) == 0 {
		return Organisation{}, errs.E(errs.NotExist, "no organisation yet")
	}
	return orgs[0], nil
}

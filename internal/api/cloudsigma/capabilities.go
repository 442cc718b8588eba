package cloudsigma

import (
	"net/http"

	"github.com/stowage/stowage/internal/core/volume"
)

// capabilities answers with the drive part of CloudSigma's capabilities:
// every storage type this location offers, with the sizes our volume types
// allow. A type the catalog does not have is absent, as CloudSigma omits
// types a location does not offer.
func (a *API) capabilities(w http.ResponseWriter, r *http.Request) error {
	drives := map[string]any{}
	for _, n := range storageTypeNames() {
		t, err := a.volumes.Catalog().Type(n)
		if err != nil || t.Kind != volume.KindBlock {
			continue
		}
		iops := map[string]any{"base": t.IOPS, "max": t.IOPS, "min": 1}
		drives[n] = map[string]any{"iops": iops, "max_size": t.MaxSize, "min_size": t.MinSize,
			"size": map[string]any{"max": t.MaxSize, "min": t.MinSize}}
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"default_storage_type": defaultStorageType,
		"drives":               drives,
		"snapshots":            map[string]any{"current": 0, "max": 700, "max_per_drive": 90},
	})
	return nil
}

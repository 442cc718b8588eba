package native

import (
	"net/http"

	"github.com/stowage/stowage/internal/core/volume"
	"github.com/stowage/stowage/internal/httpapi"
)

// Images out of volumes and backups of volumes, into the project's
// buckets. Images in and restores are volume creations (POST /volumes
// with image_object or backup).

type backupJSON struct {
	ID        string  `json:"id"`
	VolumeID  string  `json:"volume_id"`
	Bucket    string  `json:"bucket"`
	Parent    *string `json:"parent"`
	CreatedAt string  `json:"created_at"`
	Size      int64   `json:"size"`
	// StoredBytes is what this backup added to the bucket; Chunks how
	// many chunks of data it holds (each restorable from it alone).
	StoredBytes int64 `json:"stored_bytes"`
	Chunks      int64 `json:"chunks"`
}

func backupOut(b volume.Backup) backupJSON {
	var parent *string
	if b.Parent != "" {
		parent = &b.Parent
	}
	return backupJSON{ID: b.ID, VolumeID: b.VolumeID, Bucket: b.Bucket, Parent: parent, CreatedAt: stamp(b.Created),
		Size: b.Size, StoredBytes: b.Stored, Chunks: b.Chunks}
}

func (a *API) exportVolume(w http.ResponseWriter, r *http.Request) error {
	var in volume.ExportTo
	if err := a.decode(r, &in); err != nil {
		return err
	}
	j, err := a.volumes.ExportVolume(r.Context(), httpapi.Principal(r.Context()), r.PathValue("id"), in)
	if err != nil {
		return err
	}
	return a.writeAccepted(w, accepted{}, j)
}

func (a *API) backupVolume(w http.ResponseWriter, r *http.Request) error {
	var in struct {
		Bucket string `json:"bucket"`
	}
	if err := a.decode(r, &in); err != nil {
		return err
	}
	id, j, err := a.volumes.BackupVolume(r.Context(), httpapi.Principal(r.Context()), r.PathValue("id"), in.Bucket)
	if err != nil {
		return err
	}
	return a.writeAccepted(w, accepted{Backup: &backupRefJSON{ID: id, VolumeID: r.PathValue("id"), Bucket: in.Bucket}}, j)
}

// backupRefJSON names a backup being made.
type backupRefJSON struct {
	ID       string `json:"id"`
	VolumeID string `json:"volume_id"`
	Bucket   string `json:"bucket"`
}

func (a *API) listBackups(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	list, err := a.volumes.ListBackups(r.Context(), httpapi.Principal(r.Context()), q.Get("project_id"), q.Get("bucket"), q.Get("volume_id"))
	if err != nil {
		return err
	}
	out := make([]backupJSON, len(list))
	for i, b := range list {
		out[i] = backupOut(b)
	}
	return httpapi.WriteJSON(w, http.StatusOK, map[string]any{"items": out})
}

func (a *API) deleteBackup(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	j, err := a.volumes.DeleteBackup(r.Context(), httpapi.Principal(r.Context()), q.Get("project_id"),
		volume.BackupRef{Bucket: q.Get("bucket"), VolumeID: q.Get("volume_id"), BackupID: r.PathValue("backup_id")})
	if err != nil {
		return err
	}
	return a.writeAccepted(w, accepted{}, j)
}

type backupPolicyJSON struct {
	VolumeID string `json:"volume_id"`
	// Enabled is false for a volume without scheduled backups.
	Enabled    bool    `json:"enabled"`
	Bucket     string  `json:"bucket"`
	EveryHours int     `json:"every_hours"`
	KeepLast   int     `json:"keep_last"`
	KeepDaily  int     `json:"keep_daily"`
	KeepWeekly int     `json:"keep_weekly"`
	NextRunAt  *string `json:"next_run_at"`
	UpdatedAt  *string `json:"updated_at"`
}

func policyOut(p volume.BackupPolicy) backupPolicyJSON {
	out := backupPolicyJSON{VolumeID: p.VolumeID, Enabled: p.EveryHours > 0, Bucket: p.Bucket, EveryHours: p.EveryHours,
		KeepLast: p.KeepLast, KeepDaily: p.KeepDaily, KeepWeekly: p.KeepWeekly}
	if out.Enabled {
		out.NextRunAt, out.UpdatedAt = timePtr(&p.NextRun), timePtr(&p.Updated)
	}
	return out
}

func (a *API) setBackupPolicy(w http.ResponseWriter, r *http.Request) error {
	var in struct {
		Bucket     string `json:"bucket"`
		EveryHours int    `json:"every_hours"`
		KeepLast   int    `json:"keep_last"`
		KeepDaily  int    `json:"keep_daily"`
		KeepWeekly int    `json:"keep_weekly"`
	}
	if err := a.decode(r, &in); err != nil {
		return err
	}
	p, err := a.volumes.SetBackupPolicy(r.Context(), httpapi.Principal(r.Context()), r.PathValue("id"), volume.BackupPolicy{
		Bucket: in.Bucket, EveryHours: in.EveryHours, KeepLast: in.KeepLast, KeepDaily: in.KeepDaily, KeepWeekly: in.KeepWeekly})
	if err != nil {
		return err
	}
	return httpapi.WriteJSON(w, http.StatusOK, policyOut(p))
}

func (a *API) getBackupPolicy(w http.ResponseWriter, r *http.Request) error {
	p, err := a.volumes.GetBackupPolicy(r.Context(), httpapi.Principal(r.Context()), r.PathValue("id"))
	if err != nil {
		return err
	}
	return httpapi.WriteJSON(w, http.StatusOK, policyOut(p))
}

func (a *API) deleteBackupPolicy(w http.ResponseWriter, r *http.Request) error {
	if err := a.volumes.DeleteBackupPolicy(r.Context(), httpapi.Principal(r.Context()), r.PathValue("id")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

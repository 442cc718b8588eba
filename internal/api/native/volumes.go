package native

import (
	"net/http"
	"strconv"

	"github.com/stowage/stowage/internal/core/volume"
	"github.com/stowage/stowage/internal/errs"
	"github.com/stowage/stowage/internal/httpapi"
	"github.com/stowage/stowage/internal/jobs"
)

type connectionInfoJSON struct {
	Driver string `json:"driver"`
	URI    string `json:"uri"`
}

type attachmentJSON struct {
	ID         string `json:"id"`
	VolumeID   string `json:"volume_id"`
	SnapshotID string `json:"snapshot_id,omitempty"`
	InstanceID string `json:"instance_id,omitempty"`
	ReadOnly   bool   `json:"read_only"`
	State      string `json:"state"`
	// ConnectionInfo is absent for callers who may not attach: the URI
	// is the capability.
	ConnectionInfo *connectionInfoJSON `json:"connection_info,omitempty"`
	CreatedAt      string              `json:"created_at"`
}

func (a *API) attachmentOut(x volume.Attachment) attachmentJSON {
	out := attachmentJSON{ID: x.ID, VolumeID: x.VolumeID, SnapshotID: x.SnapshotID, InstanceID: x.InstanceID, ReadOnly: x.ReadOnly,
		State: x.State, CreatedAt: stamp(x.Created)}
	if ci := a.volumes.ConnectionInfo(x); ci.URI != "" {
		out.ConnectionInfo = &connectionInfoJSON{Driver: ci.Driver, URI: ci.URI}
	}
	return out
}

type volumeJSON struct {
	ID             string            `json:"id"`
	ProjectID      string            `json:"project_id"`
	Name           string            `json:"name"`
	Description    string            `json:"description"`
	Size           int64             `json:"size"`
	Type           string            `json:"type"`
	Zone           string            `json:"zone"`
	Status         string            `json:"status"`
	Bootable       bool              `json:"bootable"`
	Media          string            `json:"media"`
	MultiAttach    bool              `json:"multiattach"`
	Metadata       map[string]string `json:"metadata"`
	Tags           []string          `json:"tags"`
	SourceType     string            `json:"source_type,omitempty"`
	SourceID       string            `json:"source_id,omitempty"`
	Error          string            `json:"error,omitempty"`
	Attachments    []attachmentJSON  `json:"attachments"`
	AllocatedBytes *int64            `json:"allocated_bytes,omitempty"`
	CreatedAt      string            `json:"created_at"`
	UpdatedAt      string            `json:"updated_at"`
}

func (a *API) volumeOut(v volume.Volume) volumeJSON {
	out := volumeJSON{ID: v.ID, ProjectID: v.ProjectID, Name: v.Name, Description: v.Description, Size: v.Size, Type: v.Type,
		Zone: v.Zone, Status: string(v.Status), Bootable: v.Bootable, Media: v.Media, MultiAttach: v.MultiAttach,
		Metadata: v.Metadata, Tags: v.Tags, SourceType: v.SourceType, SourceID: v.SourceID, Error: v.Error,
		Attachments: []attachmentJSON{}, CreatedAt: stamp(v.Created), UpdatedAt: stamp(v.Updated)}
	for _, x := range v.Attachments {
		out.Attachments = append(out.Attachments, a.attachmentOut(x))
	}
	return out
}

// accepted is the body of every 202: the resource as recorded and the job
// that carries the change out.
type accepted struct {
	Volume     *volumeJSON     `json:"volume,omitempty"`
	Snapshot   *snapshotJSON   `json:"snapshot,omitempty"`
	Attachment *attachmentJSON `json:"attachment,omitempty"`
	Backup     *backupRefJSON  `json:"backup,omitempty"`
	Job        jobJSON         `json:"job"`
}

func (a *API) writeAccepted(w http.ResponseWriter, body accepted, j jobs.Job) error {
	body.Job = jobOut(j)
	w.Header().Set("Location", "/api/v1/jobs/"+j.ID)
	return httpapi.WriteJSON(w, http.StatusAccepted, body)
}

func (a *API) listRegions(w http.ResponseWriter, r *http.Request) error {
	c := a.volumes.Catalog()
	type region struct {
		Name  string   `json:"name"`
		Zones []string `json:"zones"`
	}
	return httpapi.WriteJSON(w, http.StatusOK, list[region]{Items: []region{{Name: c.Region, Zones: c.Zones}}})
}

func (a *API) listVolumeTypes(w http.ResponseWriter, r *http.Request) error {
	type typeJSON struct {
		Name    string   `json:"name"`
		Kind    string   `json:"kind"`
		Aliases []string `json:"aliases"`
		MinSize int64    `json:"min_size"`
		MaxSize int64    `json:"max_size"`
		IOPS    int      `json:"iops_limit"`
		MBps    int      `json:"mibps_limit"`
	}
	out := list[typeJSON]{Items: []typeJSON{}}
	for _, t := range a.volumes.Catalog().Types() {
		al := t.Aliases
		if al == nil {
			al = []string{}
		}
		out.Items = append(out.Items, typeJSON{Name: t.Name, Kind: t.Kind, Aliases: al, MinSize: t.MinSize, MaxSize: t.MaxSize, IOPS: t.IOPS, MBps: t.MBps})
	}
	return httpapi.WriteJSON(w, http.StatusOK, out)
}

type volumeCreateJSON struct {
	ProjectID      string            `json:"project_id"`
	Name           string            `json:"name"`
	Description    string            `json:"description"`
	Size           int64             `json:"size"`
	Type           string            `json:"type"`
	Zone           string            `json:"zone"`
	Bootable       bool              `json:"bootable"`
	Media          string            `json:"media"`
	MultiAttach    bool              `json:"multiattach"`
	Metadata       map[string]string `json:"metadata"`
	Tags           []string          `json:"tags"`
	SnapshotID     string            `json:"snapshot_id"`
	SourceVolumeID string            `json:"source_volume_id"`
	// ImageObject imports a raw or qcow2 image from a bucket; Backup
	// restores a backup.
	ImageObject *volume.ObjectRef `json:"image_object"`
	Backup      *volume.BackupRef `json:"backup"`
}

func (in volumeCreateJSON) core() volume.Create {
	return volume.Create{ProjectID: in.ProjectID, Name: in.Name, Description: in.Description, Size: in.Size, Type: in.Type,
		Zone: in.Zone, Bootable: in.Bootable, Media: in.Media, MultiAttach: in.MultiAttach, Metadata: in.Metadata, Tags: in.Tags,
		SnapshotID: in.SnapshotID, VolumeID: in.SourceVolumeID, Object: in.ImageObject, Backup: in.Backup}
}

func (a *API) createVolumeFrom(w http.ResponseWriter, r *http.Request, c volume.Create) error {
	v, j, err := a.volumes.CreateVolume(r.Context(), httpapi.Principal(r.Context()), c)
	if err != nil {
		return err
	}
	vj := a.volumeOut(v)
	return a.writeAccepted(w, accepted{Volume: &vj}, j)
}

func (a *API) createVolume(w http.ResponseWriter, r *http.Request) error {
	var in volumeCreateJSON
	if err := a.decode(r, &in); err != nil {
		return err
	}
	return a.createVolumeFrom(w, r, in.core())
}

// cloneVolume is create with the path's volume as the source.
func (a *API) cloneVolume(w http.ResponseWriter, r *http.Request) error {
	var in volumeCreateJSON
	if err := a.decode(r, &in); err != nil {
		return err
	}
	if in.SnapshotID != "" || in.SourceVolumeID != "" {
		return errs.Field("source_volume_id", "the source is the volume in the path")
	}
	src, err := a.volumes.GetVolume(r.Context(), httpapi.Principal(r.Context()), r.PathValue("id"))
	if err != nil {
		return err
	}
	c := in.core()
	c.VolumeID = src.ID
	if c.ProjectID == "" {
		c.ProjectID = src.ProjectID
	}
	return a.createVolumeFrom(w, r, c)
}

func (a *API) listVolumes(w http.ResponseWriter, r *http.Request) error {
	pr, err := httpapi.ParsePage(r)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	f := volume.Filter{ProjectID: q.Get("project"), Name: q.Get("name"), NameContains: q.Get("name_contains"),
		Status: volume.Status(q.Get("status")), Type: q.Get("type"), Zone: q.Get("zone"), InstanceID: q.Get("instance"), Tag: q.Get("tag")}
	res, err := a.volumes.ListVolumes(r.Context(), httpapi.Principal(r.Context()), f, pr)
	if err != nil {
		return err
	}
	return writeList(w, res, a.volumeOut)
}

func (a *API) getVolume(w http.ResponseWriter, r *http.Request) error {
	v, err := a.volumes.GetVolume(r.Context(), httpapi.Principal(r.Context()), r.PathValue("id"))
	if err != nil {
		return err
	}
	out := a.volumeOut(v)
	if alloc, _ := a.volumes.Allocation(r.Context(), v); v.Status != volume.Creating {
		out.AllocatedBytes = &alloc
	}
	return httpapi.WriteJSON(w, http.StatusOK, out)
}

func (a *API) updateVolume(w http.ResponseWriter, r *http.Request) error {
	var in struct {
		Name        *string            `json:"name"`
		Description *string            `json:"description"`
		Bootable    *bool              `json:"bootable"`
		MultiAttach *bool              `json:"multiattach"`
		Metadata    *map[string]string `json:"metadata"`
		Tags        *[]string          `json:"tags"`
	}
	if err := a.decode(r, &in); err != nil {
		return err
	}
	v, err := a.volumes.UpdateVolume(r.Context(), httpapi.Principal(r.Context()), r.PathValue("id"), volume.Update{
		Name: in.Name, Description: in.Description, Bootable: in.Bootable, MultiAttach: in.MultiAttach, Metadata: in.Metadata, Tags: in.Tags})
	if err != nil {
		return err
	}
	return httpapi.WriteJSON(w, http.StatusOK, a.volumeOut(v))
}

func boolQuery(r *http.Request, name string) (bool, error) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return false, nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return false, errs.Field(name, "%s must be true or false", name)
	}
	return b, nil
}

func (a *API) deleteVolume(w http.ResponseWriter, r *http.Request) error {
	force, err := boolQuery(r, "force")
	if err != nil {
		return err
	}
	j, err := a.volumes.DeleteVolume(r.Context(), httpapi.Principal(r.Context()), r.PathValue("id"), force)
	if err != nil {
		return err
	}
	return a.writeAccepted(w, accepted{}, j)
}

func (a *API) extendVolume(w http.ResponseWriter, r *http.Request) error {
	var in struct {
		Size int64 `json:"size"`
	}
	if err := a.decode(r, &in); err != nil {
		return err
	}
	v, j, err := a.volumes.ExtendVolume(r.Context(), httpapi.Principal(r.Context()), r.PathValue("id"), in.Size)
	if err != nil {
		return err
	}
	vj := a.volumeOut(v)
	return a.writeAccepted(w, accepted{Volume: &vj}, j)
}

func (a *API) retypeVolume(w http.ResponseWriter, r *http.Request) error {
	var in struct {
		Type string `json:"type"`
	}
	if err := a.decode(r, &in); err != nil {
		return err
	}
	v, err := a.volumes.RetypeVolume(r.Context(), httpapi.Principal(r.Context()), r.PathValue("id"), in.Type)
	if err != nil {
		return err
	}
	return httpapi.WriteJSON(w, http.StatusOK, a.volumeOut(v))
}

func (a *API) attachVolume(w http.ResponseWriter, r *http.Request) error {
	var in struct {
		InstanceID string `json:"instance_id"`
	}
	if err := a.decode(r, &in); err != nil {
		return err
	}
	if in.InstanceID == "" {
		return errs.Field("instance_id", "instance_id is required")
	}
	att, j, err := a.volumes.Attach(r.Context(), httpapi.Principal(r.Context()), r.PathValue("id"), in.InstanceID)
	if err != nil {
		return err
	}
	aj := a.attachmentOut(att)
	return a.writeAccepted(w, accepted{Attachment: &aj}, j)
}

func (a *API) detachVolume(w http.ResponseWriter, r *http.Request) error {
	var in struct {
		InstanceID string `json:"instance_id"`
	}
	if err := a.decode(r, &in); err != nil {
		return err
	}
	j, err := a.volumes.Detach(r.Context(), httpapi.Principal(r.Context()), r.PathValue("id"), in.InstanceID)
	if err != nil {
		return err
	}
	return a.writeAccepted(w, accepted{}, j)
}

// revertVolume reverts to a snapshot of the volume or to one of its
// backups.
func (a *API) revertVolume(w http.ResponseWriter, r *http.Request) error {
	var in struct {
		SnapshotID string            `json:"snapshot_id"`
		Backup     *volume.BackupRef `json:"backup"`
	}
	if err := a.decode(r, &in); err != nil {
		return err
	}
	p := httpapi.Principal(r.Context())
	var v volume.Volume
	var j jobs.Job
	var err error
	switch {
	case in.Backup != nil && in.SnapshotID != "":
		return errs.Field("source", "give snapshot_id or backup, not both")
	case in.Backup != nil:
		v, j, err = a.volumes.RevertToBackup(r.Context(), p, r.PathValue("id"), *in.Backup)
	default:
		v, j, err = a.volumes.RevertVolume(r.Context(), p, r.PathValue("id"), in.SnapshotID)
	}
	if err != nil {
		return err
	}
	vj := a.volumeOut(v)
	return a.writeAccepted(w, accepted{Volume: &vj}, j)
}

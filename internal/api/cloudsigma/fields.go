package cloudsigma

import "net/http"

// noDefault is Tastypie's text for a field without a default.
const noDefault = "No default provided."

// field is one field of a resource. The drive handlers take readonly,
// required and choices from these definitions and /drives/schema/ prints
// them, so the schema cannot say something the handlers do not do.
type field struct {
	name     string
	typ      string
	readonly bool
	required bool
	def      any
	help     string
	choices  []string
	fields   []field
}

// storageTypeNames are the CloudSigma storage types, in the order used to
// name a core type back: the first that resolves to it wins.
func storageTypeNames() []string { return []string{"dssd", "nvme", "zadara", "magnetic", "ssd"} }

const defaultStorageType = "dssd"

func driveFields() []field {
	return []field{
		{name: "affinities", typ: "list", def: []string{}, choices: []string{"ssd"}, help: "A list of affinities this drive should belong to"},
		{name: "allow_multimount", typ: "boolean", def: false, help: "Allow the drive to be mounted on multiple guests. Not taken into account when drive is cdrom."},
		{name: "grantees", typ: "list", def: noDefault, help: "A list of data. Ex: ['abc', 26.73, 8]"},
		{name: "jobs", typ: "related", readonly: true, required: true, def: noDefault, help: "Background jobs related to this resource"},
		{name: "licenses", typ: "related", def: []string{}, help: "A list of licenses attached to this drive", fields: []field{
			{name: "amount", typ: "integer", def: 1, help: "Number of licenses"},
			{name: "license", typ: "related", required: true, def: noDefault, help: "A single related resource. Can be either a URI or set of nested resource data."},
			{name: "user", typ: "related", def: nil, help: "Owner of the license"},
		}},
		{name: "media", typ: "string", required: true, def: nil, choices: []string{"cdrom", "disk"}, help: "Media representation type"},
		{name: "meta", typ: "dict", def: map[string]string{}, help: "User defined meta information"},
		{name: "mounted_on", typ: "related", readonly: true, def: noDefault, help: "Servers on which this drive is mounted on"},
		{name: "name", typ: "string", required: true, def: nil, help: "Human readable name of the drive"},
		{name: "owner", typ: "related", readonly: true, def: nil, help: "Owner of the drive"},
		{name: "permissions", typ: "list", def: noDefault, help: "A list of data. Ex: ['abc', 26.73, 8]"},
		{name: "resource_uri", typ: "string", readonly: true, required: true, def: noDefault, help: "Unicode string data. Ex: \"Hello World\""},
		{name: "runtime", typ: "related", readonly: true, def: noDefault, help: "Runtime information of the drive", fields: []field{
			{name: "is_snapshotable", typ: "boolean", readonly: true, required: true, def: noDefault, help: "Specifies if the drive supports snapshotting"},
			{name: "snapshots_allocated_size", typ: "integer", readonly: true, def: noDefault, help: "Sum of the allocated size of this drive's snapshots"},
			{name: "storage_type", typ: "string", readonly: true, required: true, def: noDefault, help: "Underlying storage"},
		}},
		{name: "size", typ: "integer", required: true, def: nil, help: "Size of the drive in bytes"},
		{name: "snapshots", typ: "related", readonly: true, def: noDefault, help: "Snapshots of this drive"},
		{name: "status", typ: "string", readonly: true, required: true, def: noDefault, help: "Status of the drive."},
		{name: "storage_type", typ: "string", def: nil, choices: []string{"magnetic", "ssd", "dssd", "zadara", "nvme"}, help: "Underlying storage"},
		{name: "tags", typ: "related", def: noDefault, help: "Many related resources. Can be either a list of URIs or list of individually nested resource data."},
		{name: "uuid", typ: "string", readonly: true, required: true, def: nil, help: "UUID of the drive"},
	}
}

// fieldByName finds a definition.
func fieldByName(fs []field, name string) (field, bool) {
	for _, f := range fs {
		if f.name == name {
			return f, true
		}
	}
	return field{}, false
}

func schemaFields(fs []field) map[string]any {
	out := map[string]any{}
	for _, f := range fs {
		m := map[string]any{"default": f.def, "help_text": f.help, "readonly": f.readonly, "required": f.required, "type": f.typ}
		if f.choices != nil {
			m["choices"] = f.choices
		}
		if f.fields != nil {
			m["fields"] = schemaFields(f.fields)
		}
		out[f.name] = m
	}
	return out
}

// resourceSchema is Tastypie's schema document of a resource.
func resourceSchema(detail, list []string, fs []field, filtering map[string]string) map[string]any {
	return map[string]any{
		"allowed_detail_http_methods": detail,
		"allowed_list_http_methods":   list,
		"default_format":              "application/json",
		"default_limit":               defaultLimit,
		"fields":                      schemaFields(fs),
		"filtering":                   filtering,
	}
}

// nameFilters are the filters drives and snapshots document. Tastypie
// prints "exact" for every filter, even name__contains.
func nameFilters() map[string]string {
	return map[string]string{"name": "exact", "name__contains": "exact", "tag": "exact", "uuid": "exact"}
}

func (a *API) driveSchema(w http.ResponseWriter, r *http.Request) error {
	s := resourceSchema([]string{"get", "put", "delete"}, []string{"get", "put", "delete", "post"}, driveFields(), nameFilters())
	s["ordering"] = []string{"uuid", "name"}
	writeJSON(w, http.StatusOK, s)
	return nil
}

// snapshotFields are the fields of the recorded snapshot schema.
func snapshotFields() []field {
	return []field{
		{name: "allocated_size", typ: "integer", readonly: true, required: true, def: noDefault, help: "Physical size of the snapshot"},
		{name: "drive", typ: "related", required: true, def: nil, help: "Drive UUID"},
		{name: "grantees", typ: "list", def: noDefault, help: "A list of data. Ex: ['abc', 26.73, 8]"},
		{name: "meta", typ: "dict", def: map[string]string{}, help: "User defined meta information"},
		{name: "name", typ: "string", def: nil, help: "Optional human readable name of the snapshot"},
		{name: "owner", typ: "related", readonly: true, def: nil, help: "Owner of the snapshot"},
		{name: "permissions", typ: "list", def: noDefault, help: "A list of data. Ex: ['abc', 26.73, 8]"},
		{name: "resource_uri", typ: "string", readonly: true, required: true, def: noDefault, help: "Unicode string data. Ex: \"Hello World\""},
		{name: "status", typ: "string", readonly: true, required: true, def: noDefault, help: "Status of the snapshot."},
		{name: "tags", typ: "related", def: noDefault, help: "Many related resources. Can be either a list of URIs or list of individually nested resource data."},
		{name: "timestamp", typ: "string", readonly: true, required: true, def: nil, help: "Timestamp of the snapshot creation"},
		{name: "uuid", typ: "string", readonly: true, required: true, def: nil, help: "UUID of the snapshot"},
	}
}

func (a *API) snapshotSchema(w http.ResponseWriter, r *http.Request) error {
	// The recorded schema lists the name filters only, though ?drive= works.
	writeJSON(w, http.StatusOK, resourceSchema([]string{"get", "put", "delete"}, []string{"get", "put", "delete", "post"}, snapshotFields(), nameFilters()))
	return nil
}

// capabilitiesSchema is the recorded answer: capabilities is a single
// read-only document, so its schema only names the method.
func (a *API) capabilitiesSchema(w http.ResponseWriter, r *http.Request) error {
	writeJSON(w, http.StatusOK, map[string]any{"allowed_methods": []string{"get"},
		"help_text": "Various API capabilities. Check documentation for reference"})
	return nil
}

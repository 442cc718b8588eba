package client

// The native API's resources, with the JSON names the server documents in
// /api/v1/openapi.json.

type Organisation struct {
	ID          string `json:"id"`
	Name        string `json:"name"`
	Description string `json:"description"`
	CreatedAt   string `json:"created_at"`
}

type Project struct {
	ID             string `json:"id"`
	OrganisationID string `json:"organisation_id"`
	Name           string `json:"name"`
	Description    string `json:"description"`
	CreatedAt      string `json:"created_at"`
}

type Member struct {
	UserID    string `json:"user_id"`
	Username  string `json:"username"`
	Role      string `json:"role"`
	CreatedAt string `json:"created_at"`
}

type User struct {
	ID        string `json:"id"`
	Username  string `json:"username"`
	Email     string `json:"email"`
	FullName  string `json:"full_name"`
	Staff     bool   `json:"staff"`
	CreatedAt string `json:"created_at"`
}

type Token struct {
	ID         string  `json:"id"`
	Name       string  `json:"name"`
	ProjectID  string  `json:"project_id,omitempty"`
	Prefix     string  `json:"prefix"`
	ExpiresAt  *string `json:"expires_at"`
	LastUsedAt *string `json:"last_used_at"`
	CreatedAt  string  `json:"created_at"`
	Token      string  `json:"token,omitempty"`
}

type Job struct {
	ID           string         `json:"id"`
	Kind         string         `json:"kind"`
	ProjectID    string         `json:"project_id,omitempty"`
	ResourceType string         `json:"resource_type"`
	ResourceID   string         `json:"resource_id"`
	State        string         `json:"state"`
	Attempts     int            `json:"attempts"`
	MaxAttempts  int            `json:"max_attempts"`
	Error        string         `json:"error"`
	Result       map[string]any `json:"result"`
	CreatedAt    string         `json:"created_at"`
	UpdatedAt    string         `json:"updated_at"`
	FinishedAt   *string        `json:"finished_at"`
}

// Session is the answer of a password login.
type Session struct {
	Token     string `json:"token"`
	ExpiresAt string `json:"expires_at"`
}

type Component struct {
	Type         string `json:"type"`
	Name         string `json:"name"`
	MeasuredUnit string `json:"measured_unit"`
	BillingType  string `json:"billing_type"`
	MinValue     int64  `json:"min_value"`
	MaxValue     int64  `json:"max_value"`
}

type Offering struct {
	ID               string      `json:"id"`
	Name             string      `json:"name"`
	Description      string      `json:"description"`
	Kind             string      `json:"kind"`
	Type             string      `json:"type"`
	VolumeType       string      `json:"volume_type,omitempty"`
	Category         string      `json:"category"`
	State            string      `json:"state"`
	ProviderApproval bool        `json:"provider_approval"`
	Components       []Component `json:"components"`
	CreatedAt        string      `json:"created_at"`
}

type Plan struct {
	ID          string            `json:"id"`
	OfferingID  string            `json:"offering_id"`
	Name        string            `json:"name"`
	Description string            `json:"description"`
	Unit        string            `json:"unit"`
	Prices      map[string]string `json:"prices"`
	InitPrice   string            `json:"init_price"`
	SwitchPrice string            `json:"switch_price"`
	Archived    bool              `json:"archived"`
}

type Order struct {
	ID           string           `json:"id"`
	ProjectID    string           `json:"project_id"`
	OfferingID   string           `json:"offering_id"`
	PlanID       string           `json:"plan_id,omitempty"`
	ResourceID   string           `json:"resource_id"`
	Type         string           `json:"type"`
	State        string           `json:"state"`
	Attributes   map[string]any   `json:"attributes"`
	Limits       map[string]int64 `json:"limits"`
	Cost         string           `json:"cost,omitempty"`
	ErrorMessage string           `json:"error_message"`
	CreatedAt    string           `json:"created_at"`
	UpdatedAt    string           `json:"updated_at"`
	CompletedAt  *string          `json:"completed_at"`
}

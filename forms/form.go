package forms

import (
	"time"

	"github.com/jimu-crm/jimu/metadata"
)

// Form is a layout of one entity's fields with conditional rules, written
// once as expressions and enforced by the server on every write through
// the form: the live preview (evaluate), submissions of signed-in users,
// the records API with ?form=, and the public page when it is published.
// An entity has as many forms as it needs ("Quick create", "Visit
// report", "Full"); each is a versioned document with its history kept.
type Form struct {
	ID          string        `json:"id"`
	Name        string        `json:"name"` // unique per entity
	Entity      string        `json:"entity"`
	Label       metadata.Text `json:"label,omitempty"`
	Description metadata.Text `json:"description,omitempty"`
	SubmitLabel metadata.Text `json:"submit_label,omitempty"`
	Sections    []*Section    `json:"sections"`
	// Publish is set by POST …/publish: the form is then a public page.
	Publish   *Publication `json:"publish,omitempty"`
	Version   int64        `json:"version"`
	CreatedAt time.Time    `json:"created_at"`
	UpdatedAt time.Time    `json:"updated_at"`
	CreatedBy string       `json:"created_by,omitempty"`
	UpdatedBy string       `json:"updated_by,omitempty"`
}

// Section is a titled group of fields laid out in one to four columns.
type Section struct {
	Label   metadata.Text `json:"label,omitempty"`
	Columns int           `json:"columns,omitempty"` // 1–4; 0 reads as 1
	Fields  []*FormField  `json:"fields"`
}

// FormField places one field of the entity on the form, with what the form
// says about it beyond the entity: its own label and help, whether it is
// required or read-only (always or when a condition holds), a default,
// when it is shown, and which options a select offers when.
type FormField struct {
	Field        string        `json:"field"`
	Column       int           `json:"column,omitempty"` // 1…the section's columns; 0 reads as 1
	Label        metadata.Text `json:"label,omitempty"`
	HelpText     metadata.Text `json:"help_text,omitempty"`
	Placeholder  metadata.Text `json:"placeholder,omitempty"`
	Required     bool          `json:"required,omitempty"`
	ReadOnly     bool          `json:"read_only,omitempty"`
	Default      any           `json:"default,omitempty"`      // a literal
	DefaultExpr  string        `json:"default_expr,omitempty"` // or an expression
	ShowWhen     string        `json:"show_when,omitempty"`
	RequireWhen  string        `json:"require_when,omitempty"`
	ReadOnlyWhen string        `json:"read_only_when,omitempty"`
	// OptionsWhen narrows a select's options: the first rule whose
	// condition holds gives the options allowed; when none holds, all of
	// the field's options are.
	OptionsWhen []*OptionRule `json:"options_when,omitempty"`
}

// OptionRule is "allowed options when …".
type OptionRule struct {
	When    string   `json:"when"`
	Options []string `json:"options"`
}

// Publication makes a form a public page at /f/{slug}.
type Publication struct {
	Slug string `json:"slug"`
	// Defaults are set on every public submission and never asked for
	// ("source": "web", "owner": a user id); the submitter cannot send
	// them.
	Defaults       map[string]any `json:"defaults,omitempty"`
	SuccessMessage metadata.Text  `json:"success_message,omitempty"`
	RedirectURL    string         `json:"redirect_url,omitempty"` // instead of the message
	AllowedOrigins []string       `json:"allowed_origins,omitempty"`
	// Challenge is "none", "arithmetic" (works without JavaScript) or
	// "proof_of_work" (the page's script computes it).
	Challenge      string    `json:"challenge,omitempty"`
	MinFillSeconds *int      `json:"min_fill_seconds,omitempty"` // nil: DefaultMinFill
	Limits         *Limits   `json:"limits,omitempty"`
	PublishedAt    time.Time `json:"published_at"`
}

// Limits bound the public submissions of a form per window: from one
// address, and from everyone.
type Limits struct {
	PerIP   int `json:"per_ip,omitempty"`
	PerForm int `json:"per_form,omitempty"`
	Window  int `json:"window_seconds,omitempty"`
}

// Defaults of a publication.
const (
	DefaultMinFill = 3 // seconds between the page and its submission
	DefaultPerIP   = 10
	DefaultPerForm = 500
	DefaultWindow  = 600 // seconds
)

func (p *Publication) minFill() time.Duration {
	if p.MinFillSeconds == nil {
		return DefaultMinFill * time.Second
	}
	return time.Duration(*p.MinFillSeconds) * time.Second
}

func (p *Publication) limits() Limits {
	l := Limits{PerIP: DefaultPerIP, PerForm: DefaultPerForm, Window: DefaultWindow}
	if p.Limits != nil {
		if p.Limits.PerIP > 0 {
			l.PerIP = p.Limits.PerIP
		}
		if p.Limits.PerForm > 0 {
			l.PerForm = p.Limits.PerForm
		}
		if p.Limits.Window > 0 {
			l.Window = p.Limits.Window
		}
	}
	return l
}

// Fields are the form's fields in order, section after section.
func (f *Form) Fields() []*FormField {
	var out []*FormField
	for _, s := range f.Sections {
		out = append(out, s.Fields...)
	}
	return out
}

// Field returns the form's entry for an entity field, or nil.
func (f *Form) Field(name string) *FormField {
	for _, s := range f.Sections {
		for _, ff := range s.Fields {
			if ff.Field == name {
				return ff
			}
		}
	}
	return nil
}

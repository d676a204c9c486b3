package forms

import (
	"bytes"
	"embed"
	"fmt"
	"html/template"
	"strconv"

	"github.com/jimu-crm/jimu/engine/catalog"
	"github.com/jimu-crm/jimu/engine/problem"
	"github.com/jimu-crm/jimu/metadata"
)

//go:embed page/form.html page/pow.js
var pageFiles embed.FS

// pages are the public templates; html/template escapes every value by
// its context, so a label or a value a visitor typed is text, never
// markup.
var pages = template.Must(template.ParseFS(pageFiles, "page/form.html"))

// pageData is what the form page shows.
type pageData struct {
	Lang, Title, Description, Submit, Action, Token, Alert, Message string
	Sections                                                        []pageSection
	Challenge                                                       *pageChallenge
	Done, Notice                                                    bool
	T                                                               map[string]string
}

// pageSection is a section's fields in the form's order: one column on
// a phone, the section's columns on a wider screen (a field placed in a
// column keeps to it).
type pageSection struct {
	Label   string
	Columns int
	Fields  []pageField
}

type pageChallenge struct {
	Label, Question, Error, Nonce, NoScript, Wait string
	Bits                                          int
}

type pageField struct {
	Name, Label, Help, Placeholder, Input, Step, Value, Error, Describe, Autocomplete string
	Choose, RequiredMark                                                              string
	Required, ReadOnly, Checked                                                       bool
	MaxLength, Col                                                                    int
	Options                                                                           []pageOption
}

type pageOption struct {
	Value, Label string
	Selected     bool
}

// inputOf is the HTML input of a field type.
func inputOf(def *metadata.Field) (input, step, autocomplete string) {
	switch def.Type {
	case "long_text":
		return "textarea", "", ""
	case "number", "percent":
		return "number", "any", ""
	case "currency":
		return "number", "0.01", ""
	case "integer":
		return "number", "1", ""
	case "boolean":
		return "checkbox", "", ""
	case "date":
		return "date", "", ""
	case "datetime":
		return "datetime-local", "", ""
	case "email":
		return "email", "", "email"
	case "phone":
		return "tel", "", "tel"
	case "url":
		return "url", "", "url"
	case "select":
		return "select", "", ""
	case "multi_select":
		return "checkboxes", "", ""
	}
	if def.Name == "name" {
		return "text", "", "name"
	}
	return "text", "", ""
}

// pageFields lays out the fields the rules show, with the values sent
// (echo) or the defaults (values) and each field's error.
func pageFields(f *Form, e *catalog.Entity, st *state, locale string, values map[string]any, echo map[string][]string, errs map[string]string) []pageSection {
	var out []pageSection
	for _, sec := range f.Sections {
		cols := max(1, sec.Columns)
		ps := pageSection{Label: sec.Label.In(locale), Columns: cols}
		for _, ff := range sec.Fields {
			def := e.Field(ff.Field)
			fs := st.fields[ff.Field]
			if def == nil || fs == nil || !fs.visible {
				continue
			}
			pf := pageField{Name: def.Name, Label: textOr(ff.Label, def.Label, def.Name, locale),
				Help: textOr(ff.HelpText, def.HelpText, "", locale), Placeholder: ff.Placeholder.In(locale),
				Required: fs.required || (fs.entityRequired && !fs.readOnly), ReadOnly: fs.readOnly,
				MaxLength: def.MaxLength, Error: errs[def.Name], Choose: say(locale, "choose"), RequiredMark: say(locale, "required_mark")}
			pf.Input, pf.Step, pf.Autocomplete = inputOf(def)
			sent, wasSent := echo[def.Name]
			if !wasSent {
				sent = textsOf(values[def.Name])
			}
			if len(sent) > 0 {
				pf.Value = sent[0]
				pf.Checked = pf.Input == "checkbox" && (sent[0] == "true" || sent[0] == "on")
			}
			if fs.options != nil {
				for _, v := range fs.options {
					o := pageOption{Value: v, Label: v, Selected: contains(sent, v)}
					for _, opt := range def.Options {
						if opt.Value == v && !opt.Label.IsZero() {
							o.Label = opt.Label.In(locale)
						}
					}
					pf.Options = append(pf.Options, o)
				}
			}
			switch {
			case pf.Error != "" && pf.Help != "":
				pf.Describe = "e_" + def.Name + " h_" + def.Name
			case pf.Error != "":
				pf.Describe = "e_" + def.Name
			case pf.Help != "":
				pf.Describe = "h_" + def.Name
			}
			if ff.Column > 1 && ff.Column <= cols || ff.Column == 1 && cols > 1 {
				pf.Col = ff.Column
			}
			ps.Fields = append(ps.Fields, pf)
		}
		if len(ps.Fields) > 0 {
			out = append(out, ps)
		}
	}
	return out
}

func textOr(a, b metadata.Text, fallback, locale string) string {
	if s := a.In(locale); s != "" {
		return s
	}
	if s := b.In(locale); s != "" {
		return s
	}
	return fallback
}

// textsOf is a stored value as the texts of its inputs.
func textsOf(v any) []string {
	switch x := v.(type) {
	case nil:
		return nil
	case string:
		return []string{x}
	case bool:
		return []string{strconv.FormatBool(x)}
	case float64:
		return []string{strconv.FormatFloat(x, 'f', -1, 64)}
	case int64:
		return []string{strconv.FormatInt(x, 10)}
	case []any:
		out := make([]string, 0, len(x))
		for _, e := range x {
			out = append(out, fmt.Sprint(e))
		}
		return out
	}
	return []string{fmt.Sprint(v)}
}

// fieldErrors are a refusal's field errors in the visitor's language,
// by field; others are what is not about a field on the page.
func fieldErrors(err error, locale string, shown func(string) bool) (byField map[string]string, others []string) {
	byField = map[string]string{}
	pe, ok := err.(*problem.Error)
	if !ok {
		return byField, []string{say(locale, "e_invalid")}
	}
	for _, fe := range pe.Errors {
		msg := fieldMessage(locale, fe.Code, fe.Message)
		if shown(fe.Field) {
			if _, dup := byField[fe.Field]; !dup {
				byField[fe.Field] = msg
			}
			continue
		}
		others = append(others, fe.Field+": "+msg)
	}
	return byField, others
}

func render(name string, data any) ([]byte, error) {
	var b bytes.Buffer
	if err := pages.ExecuteTemplate(&b, name, data); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

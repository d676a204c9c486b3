package forms

import (
	"html/template"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/jimu-crm/jimu/engine/problem"
)

// Embed is how a published form goes on another site: the page's
// address, an iframe, and a plain HTML form that posts to Jimu for sites
// without JavaScript. The plain form has no token of the page's (it is a
// static copy), so its first post comes back as the form page, filled in,
// to be sent once more: the minimum fill time and the challenge then
// hold for it too.
type Embed struct {
	URL    string `json:"url"`
	IFrame string `json:"iframe"`
	HTML   string `json:"html"`
}

type snippetData struct {
	Action, Submit string
	Fields         []pageField
}

// embedForm: GET /api/v1/meta/forms/{id}/embed?lang=zh-CN.
func (m *Module) embedForm(c *fiber.Ctx) error {
	ctx, p := c.UserContext(), who(c)
	if err := m.Forms.designer(ctx, p); err != nil {
		return err
	}
	f, err := m.Forms.Get(ctx, c.Params("id"))
	if err != nil {
		return err
	}
	if f.Publish == nil {
		return problem.Conflict("form %s is not published: publish it first", f.Name)
	}
	e, err := m.Forms.cat.Get(f.Entity)
	if err != nil {
		return err
	}
	locale := pageLocale(c.Query("lang"), c.Get(fiber.HeaderAcceptLanguage))
	base := strings.TrimSuffix(c.BaseURL(), "/")
	url := base + "/f/" + f.Publish.Slug
	st, _ := m.Public.initial(f, e, "", nil)
	var fields []pageField
	for _, sec := range pageFields(f, e, st, locale, nil, nil, nil) {
		fields = append(fields, sec.Fields...)
	}
	var b strings.Builder
	if err := pages.ExecuteTemplate(&b, "snippet", snippetData{Action: url, Submit: textOr(f.SubmitLabel, nil, say(locale, "submit"), locale), Fields: fields}); err != nil {
		return err
	}
	title := template.HTMLEscapeString(textOr(f.Label, e.Label, f.Name, locale))
	iframe := `<iframe src="` + template.HTMLEscapeString(url) + `" title="` + title +
		`" style="width:100%;max-width:44rem;height:48rem;border:0" loading="lazy"></iframe>`
	return c.JSON(Embed{URL: url, IFrame: iframe, HTML: b.String()})
}

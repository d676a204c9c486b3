package forms

import (
	"errors"
	"net/http"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/jimu-crm/jimu/engine/catalog"
	"github.com/jimu-crm/jimu/engine/problem"
	"github.com/jimu-crm/jimu/engine/server"
)

// post: POST /f/{slug} — a submission, form-encoded (a page, an embedded
// plain HTML form) or JSON. In order: the size cap, the limits, strict
// decoding, the honeypot, the signed token (minimum fill time, challenge),
// markup, the same values within a minute, the token used once, then the
// write pipeline under the form's identity. Each refusal changes nothing;
// a person sees the page again with their values and a message next to
// each field, in their language.
func (pb *Public) post(c *fiber.Ctx) error {
	ctx := c.UserContext()
	locale := pageLocale(c.Query("lang"), c.Get(fiber.HeaderAcceptLanguage))
	if len(c.Body()) > PublicBodyLimit {
		return pb.refuse(c, locale, nil, problem.New(http.StatusRequestEntityTooLarge,
			"a submission is at most %d bytes", PublicBodyLimit))
	}
	f, e, err := pb.published(ctx, c.Params("slug"))
	if err != nil {
		return pb.refuse(c, locale, nil, err)
	}
	pub := f.Publish
	pb.headers(c, pub)
	if pb.PruneEvery > 0 {
		pb.maybePrune(ctx)
	}
	if err := pb.limit(ctx, f, pub, c.IP()); err != nil {
		return pb.refuse(c, locale, f, err)
	}
	jsonPost := wantsJSON(c)
	var post *publicPost
	ct := c.Get(fiber.HeaderContentType)
	switch {
	case strings.Contains(ct, "json"):
		post, err = decodeJSONPost(c.Body(), server.DecodeObject)
	case ct == "" || strings.HasPrefix(ct, fiber.MIMEApplicationForm):
		post, err = decodeForm(c.Body(), e)
	default:
		return &problem.Error{Status: http.StatusUnsupportedMediaType, Type: "about:blank", Title: "Unsupported media type",
			Detail: "send the form as application/x-www-form-urlencoded or application/json"}
	}
	if lang := post.controlOr(fieldLang); c.Query("lang") == "" && contains(pageLocales, lang) {
		locale = lang
	}
	again := func(status int, err error, alertKey string) error {
		return pb.again(c, status, f, e, locale, post, err, alertKey)
	}
	if err != nil {
		if post == nil || jsonPost {
			return err
		}
		return again(http.StatusUnprocessableEntity, err, "fix")
	}
	if post.control[fieldHoneypot] != "" {
		return again(http.StatusUnprocessableEntity, problem.Invalid(problem.FieldError{Field: fieldHoneypot, Code: "honeypot",
			Message: "this submission looks automated"}), "code_honeypot")
	}
	tok, code, err := pb.check(ctx, f, pub, post.control[fieldToken], post.control[fieldAnswer], post.control[fieldWork])
	if err != nil {
		return err
	}
	if code != "" {
		field, key := fieldToken, map[string]string{codeToken: "code_token", codeTooFast: "code_too_fast", codeChallenge: "code_chal"}[code]
		if code == codeChallenge {
			field = fieldAnswer
		}
		return again(http.StatusUnprocessableEntity, problem.Invalid(problem.FieldError{Field: field, Code: code,
			Message: tokenMessages[code]}), key)
	}
	if errs := markup(post.values); len(errs) > 0 {
		return again(http.StatusUnprocessableEntity, problem.Invalid(errs...), "fix")
	}
	cl, done, pending, err := pb.claimValues(ctx, f, post.values)
	switch {
	case err != nil:
		return err
	case done != "":
		return pb.success(c, http.StatusOK, f, locale, done, true)
	case pending:
		return pb.refuse(c, locale, f, problem.Conflict("the same submission is being processed"))
	}
	fresh, err := pb.useToken(ctx, tok)
	if err != nil || !fresh {
		pb.settle(ctx, cl, "")
		if err != nil {
			return err
		}
		return again(http.StatusUnprocessableEntity, problem.Invalid(problem.FieldError{Field: fieldToken, Code: "token_used",
			Message: "this page was sent already; load the form again"}), "code_used")
	}
	svc := pb.rec.WithPolicy(webPolicy{entity: f.Entity})
	r, err := svc.CreateWith(ctx, webIdentity(f, c.IP()), e.Name, post.values, pb.forms.hook(f, pub, noAccess))
	if err != nil {
		pb.settle(ctx, cl, "")
		pb.releaseToken(ctx, tok)
		var pe *problem.Error
		if !errors.As(err, &pe) || pe.Status >= 500 {
			return err
		}
		return again(pe.Status, err, "fix")
	}
	pb.settle(ctx, cl, r.ID)
	return pb.success(c, http.StatusCreated, f, locale, r.ID, false)
}

// tokenMessages are the API's words for the token's refusals.
var tokenMessages = map[string]string{
	codeToken:     "the page's token is missing, not valid or expired: load the form again",
	codeTooFast:   "sent sooner after the page was served than a person fills this form",
	codeChallenge: "the answer to the challenge is wrong",
}

func (p *publicPost) controlOr(name string) string {
	if p == nil {
		return ""
	}
	return p.control[name]
}

// again answers a refused submission: JSON clients the problem document,
// people the page with what they typed, a fresh token and a message next
// to each field.
func (pb *Public) again(c *fiber.Ctx, status int, f *Form, e *catalog.Entity, locale string, post *publicPost, err error, alertKey string) error {
	if wantsJSON(c) {
		return err
	}
	ctx := c.UserContext()
	st, _ := pb.initial(f, e, c.IP(), post.values)
	tok, ch, terr := pb.issue(ctx, f, f.Publish)
	if terr != nil {
		return terr
	}
	shown := func(name string) bool {
		if name == fieldAnswer {
			return ch != nil && ch.Question != ""
		}
		fs := st.fields[name]
		return fs != nil && fs.visible
	}
	byField, others := fieldErrors(err, locale, shown)
	if alertKey == "code_token" || alertKey == "code_too_fast" {
		// Nothing was checked yet: say already which required fields
		// are empty, so the second send is the last.
		for _, name := range st.order {
			if fs := st.fields[name]; fs.visible && (fs.required || fs.entityRequired && !fs.readOnly) && empty(post.values[name]) {
				byField[name] = say(locale, "e_required")
			}
		}
	}
	alert := say(locale, alertKey)
	if alertKey == "fix" && len(others) > 0 {
		alert += " " + strings.Join(others, " ")
	}
	return pb.show(c, status, f, e, st, locale, tok, ch, post.values, post.echo, byField, alert)
}

// success answers an accepted submission (or the same one again): the
// redirect, or the success message; JSON clients the record's id.
func (pb *Public) success(c *fiber.Ctx, status int, f *Form, locale, id string, duplicate bool) error {
	pub := f.Publish
	msg := pub.SuccessMessage.In(locale)
	if msg == "" {
		msg = say(locale, "thanks")
	}
	if wantsJSON(c) {
		out := fiber.Map{"id": id, "message": msg}
		if duplicate {
			out["duplicate"] = true
		}
		return c.Status(status).JSON(out)
	}
	if pub.RedirectURL != "" {
		return c.Redirect(pub.RedirectURL, http.StatusSeeOther)
	}
	return pb.send(c, status, &pageData{Lang: locale, Title: textOr(f.Label, nil, f.Name, locale), Done: true, Message: msg,
		Action: "/f/" + pub.Slug, T: messages[locale]})
}

package server

import (
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/jimu-crm/jimu/engine/auth"
	"github.com/jimu-crm/jimu/engine/problem"
	"github.com/jimu-crm/jimu/engine/store"
)

// authErr maps the auth service's errors to answers. Unknown user and wrong
// password give the same answer on purpose. A refusal of the login
// throttle is answered by throttled, which also sets Retry-After.
func authErr(err error) error {
	var ie *auth.InputError
	var te *auth.ThrottledError
	switch {
	case errors.Is(err, auth.ErrInvalidCredentials):
		return problem.New(http.StatusUnauthorized, "wrong e-mail or password")
	case errors.As(err, &te):
		where := "from this address"
		if te.Scope == auth.ScopeAccountAddress {
			where = "for this account from this address"
		}
		secs, unit := retrySeconds(te), "seconds"
		if secs == 1 {
			unit = "second"
		}
		return problem.New(http.StatusTooManyRequests, "too many failed sign-ins %s; try again in %d %s", where, secs, unit)
	case errors.Is(err, auth.ErrThrottled):
		return problem.New(http.StatusTooManyRequests, "too many failed sign-ins; wait a few minutes and try again")
	case errors.Is(err, auth.ErrWrongPassword):
		return problem.Invalid(problem.FieldError{Field: "current_password", Code: "invalid", Message: "is wrong"})
	case errors.Is(err, auth.ErrEmailTaken):
		return &problem.Error{Status: http.StatusConflict, Type: "about:blank", Title: "Duplicate value", Detail: "a user with this e-mail exists",
			Errors: []problem.FieldError{{Field: "email", Code: "unique", Message: "a user with this e-mail exists"}}}
	case errors.Is(err, auth.ErrInvalidCode):
		return problem.Invalid(problem.FieldError{Field: "code", Code: "invalid", Message: "wrong, expired or already used code"})
	case errors.Is(err, auth.ErrTOTPEnabled), errors.Is(err, auth.ErrTOTPNotEnabled), errors.Is(err, auth.ErrTOTPNotSetUp):
		return problem.Conflict("%s", err.Error())
	case errors.Is(err, auth.ErrSecondFactorMandatory), errors.Is(err, auth.ErrSessionOnly):
		return problem.New(http.StatusForbidden, "%s", strings.TrimPrefix(err.Error(), auth.ErrForbidden.Error()+": "))
	case errors.Is(err, auth.ErrForbidden):
		return problem.New(http.StatusForbidden, "not allowed")
	case errors.Is(err, auth.ErrNotFound), errors.Is(err, store.ErrNotFound):
		return problem.NotFound("not found")
	case errors.Is(err, auth.ErrUnauthenticated):
		return problem.New(http.StatusUnauthorized, "the token is unknown, expired or revoked")
	case errors.As(err, &ie):
		code := ie.Code
		if code == "" {
			code = "invalid"
		}
		return problem.Invalid(problem.FieldError{Field: ie.Field, Code: code, Message: ie.Message, Params: ie.Params})
	}
	return err
}

type loginBody struct {
	Email    string `json:"email"`
	Password string `json:"password"`
	// Session is how the session travels: "bearer" (the default: the token
	// is in the answer) or "cookie" (a browser session in cookies; see
	// session.go).
	Session string `json:"session"`
}

// login is the first (often only) step of a sign-in; see loginAnswer for
// what it answers.
func (s *Server) login(c *fiber.Ctx) error {
	var b loginBody
	if err := decodeStrict(c.Body(), &b); err != nil {
		return err
	}
	if b.Email == "" || b.Password == "" {
		return problem.Invalid(problem.FieldError{Field: "email", Code: "required", Message: "email and password are required"})
	}
	cookie, err := sessionMode(b.Session)
	if err != nil {
		return err
	}
	if err := sameOrigin(c); err != nil {
		return err
	}
	r, err := s.Auth.BeginLogin(c.UserContext(), auth.LoginRequest{Email: b.Email, Password: b.Password, IP: c.IP(),
		Held: c.Cookies(SessionCookie), Cookie: cookie})
	if err != nil {
		return s.throttled(c, "", "password", err, map[string]any{"email": b.Email})
	}
	return s.loginAnswer(c, r, cookie)
}

// retrySeconds is a throttle refusal's wait in whole seconds, rounded up.
func retrySeconds(te *auth.ThrottledError) int64 {
	return max(1, int64((te.RetryAfter+time.Second-1)/time.Second))
}

// throttled answers an error of a throttled step (a sign-in, a second
// factor, a password check): a refusal of the login throttle gets
// Retry-After and an "auth.login_throttled" audit entry (anonymous ones
// rate-limited, see auditRefusal) naming the step; any error goes through
// authErr.
func (s *Server) throttled(c *fiber.Ctx, actor, step string, err error, details map[string]any) error {
	var te *auth.ThrottledError
	if errors.As(err, &te) {
		secs := retrySeconds(te)
		c.Set(fiber.HeaderRetryAfter, strconv.FormatInt(secs, 10))
		if details == nil {
			details = map[string]any{}
		}
		details["step"], details["scope"], details["retry_after_s"] = step, te.Scope, secs
		s.auditRefusal(c.UserContext(), actor, c.IP(), "auth.login_throttled", details)
	}
	return authErr(err)
}

type passwordBody struct {
	CurrentPassword string `json:"current_password"`
	NewPassword     string `json:"new_password"`
}

// changePassword changes the caller's own password; every other session of
// theirs ends, the one the request came with stays.
func (s *Server) changePassword(c *fiber.Ctx) error {
	var b passwordBody
	if err := decodeStrict(c.Body(), &b); err != nil {
		return err
	}
	p := principal(c)
	if err := s.Auth.ChangePassword(c.UserContext(), p, b.CurrentPassword, b.NewPassword); err != nil {
		return s.throttled(c, p.UserID, "password_change", err, nil)
	}
	return c.SendStatus(http.StatusNoContent)
}

type resetPasswordBody struct {
	Password string `json:"password"`
}

// resetPassword sets a user's password (admin); all their sessions end.
func (s *Server) resetPassword(c *fiber.Ctx) error {
	var b resetPasswordBody
	if err := decodeStrict(c.Body(), &b); err != nil {
		return err
	}
	if err := s.Auth.ResetPassword(c.UserContext(), principal(c), c.Params("id"), b.Password); err != nil {
		return authErr(err)
	}
	return c.SendStatus(http.StatusNoContent)
}

// logout ends the session the request came with (an API token is left
// alone) and, for a browser session, clears its cookies.
func (s *Server) logout(c *fiber.Ctx) error {
	if err := s.Auth.Logout(c.UserContext(), principal(c)); err != nil {
		return authErr(err)
	}
	if viaCookie(c) {
		s.clearSessionCookies(c)
	}
	return c.SendStatus(http.StatusNoContent)
}

// me is the signed-in user, and whether they have admin rights (the app
// shows the admin pages by it).
func (s *Server) me(c *fiber.Ctx) error {
	p := principal(c)
	u, err := s.Auth.GetUser(c.UserContext(), p.UserID)
	if err != nil {
		return authErr(err)
	}
	perms := []string{}
	if s.Access != nil {
		perms = s.Access.Roles.PermissionsOf(c.UserContext(), p.Roles)
	}
	return c.JSON(struct {
		*auth.User
		Admin       bool     `json:"admin"`
		Permissions []string `json:"permissions"`
	}{u, p.IsAdmin(), perms})
}

// updateMe: PATCH /api/v1/auth/me {"name":…,"locale":…} — one's own name
// and language.
func (s *Server) updateMe(c *fiber.Ctx) error {
	var in auth.Profile
	if err := decodeStrict(c.Body(), &in); err != nil {
		return err
	}
	p := principal(c)
	if _, err := s.Auth.UpdateProfile(c.UserContext(), p, in); err != nil {
		return authErr(err)
	}
	return s.me(c)
}

type setupBody struct {
	Token    string `json:"token"`
	Email    string `json:"email"`
	Name     string `json:"name"`
	Password string `json:"password"`
}

// setup completes first start: the one-time link printed in the log
// carries the token; it creates the first admin.
func (s *Server) setup(c *fiber.Ctx) error {
	var b setupBody
	if err := decodeStrict(c.Body(), &b); err != nil {
		return err
	}
	u, err := s.Auth.CompleteSetup(c.UserContext(), b.Token, auth.NewUser{Email: b.Email, Name: b.Name, Password: b.Password})
	if err != nil {
		if errors.Is(err, auth.ErrUnauthenticated) || errors.Is(err, auth.ErrForbidden) {
			return problem.New(http.StatusForbidden, "the setup token is wrong, used or expired")
		}
		return authErr(err)
	}
	return c.Status(http.StatusCreated).JSON(u)
}

type tokenBody struct {
	Name      string           `json:"name"`
	ExpiresAt *time.Time       `json:"expires_at"`
	Scope     *auth.TokenScope `json:"scope"`
}

func (s *Server) createToken(c *fiber.Ctx) error {
	var b tokenBody
	if err := decodeStrict(c.Body(), &b); err != nil {
		return err
	}
	token, t, err := s.Auth.CreateScopedToken(c.UserContext(), principal(c), b.Name, b.ExpiresAt, b.Scope)
	if err != nil {
		return authErr(err)
	}
	return c.Status(http.StatusCreated).JSON(fiber.Map{"token": token, "info": t})
}

func (s *Server) listTokens(c *fiber.Ctx) error {
	ts, err := s.Auth.ListTokens(c.UserContext(), principal(c))
	if err != nil {
		return authErr(err)
	}
	return c.JSON(fiber.Map{"items": ts})
}

func (s *Server) revokeToken(c *fiber.Ctx) error {
	if err := s.Auth.RevokeToken(c.UserContext(), principal(c), c.Params("id")); err != nil {
		return authErr(err)
	}
	return c.SendStatus(http.StatusNoContent)
}

func (s *Server) listUsers(c *fiber.Ctx) error {
	us, err := s.Auth.ListUsers(c.UserContext())
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"items": us})
}

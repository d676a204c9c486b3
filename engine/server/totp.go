package server

import (
	"errors"
	"net/http"

	"github.com/gofiber/fiber/v2"

	"github.com/jimu-crm/jimu/engine/auth"
	"github.com/jimu-crm/jimu/engine/problem"
)

// Second factor (TOTP, RFC 6238) endpoints:
//
//	POST /api/v1/auth/login/totp  {"challenge", "code" | "recovery_code", "session"}
//	GET  /api/v1/auth/totp        the caller's state
//	POST /api/v1/auth/totp/setup  a new pending secret and otpauth:// URL
//	POST /api/v1/auth/totp/enable {"code"}: on; answers the recovery codes
//	POST /api/v1/auth/totp/disable {"code" | "recovery_code"}: off
//	DELETE /api/v1/users/:id/totp (admin) off without a code

type loginTOTPBody struct {
	Challenge    string `json:"challenge"`
	Code         string `json:"code"`
	RecoveryCode string `json:"recovery_code"`
	Session      string `json:"session"`
}

// loginTOTP is the second step of a sign-in with a second factor.
func (s *Server) loginTOTP(c *fiber.Ctx) error {
	var b loginTOTPBody
	if err := decodeStrict(c.Body(), &b); err != nil {
		return err
	}
	if b.Challenge == "" || (b.Code == "") == (b.RecoveryCode == "") {
		return problem.Invalid(problem.FieldError{Field: "code", Code: "required", Message: "challenge and one of code and recovery_code are required"})
	}
	cookie, err := sessionMode(b.Session)
	if err != nil {
		return err
	}
	if err := sameOrigin(c); err != nil {
		return err
	}
	r, err := s.Auth.CompleteLogin(c.UserContext(), auth.SecondFactorRequest{Challenge: b.Challenge, Code: b.Code,
		RecoveryCode: b.RecoveryCode, IP: c.IP(), Held: c.Cookies(SessionCookie), Cookie: cookie})
	switch {
	case errors.Is(err, auth.ErrInvalidCode):
		return problem.New(http.StatusUnauthorized, "wrong, expired or already used code")
	case errors.Is(err, auth.ErrUnauthenticated):
		return problem.New(http.StatusUnauthorized, "the sign-in challenge is unknown, used or expired: sign in again")
	case err != nil:
		return s.throttled(c, "", "second_factor", err, nil)
	}
	return s.loginAnswer(c, r, cookie || r.Session.Cookie)
}

func (s *Server) totpStatus(c *fiber.Ctx) error {
	st, err := s.Auth.TOTPState(c.UserContext(), principal(c))
	if err != nil {
		return authErr(err)
	}
	return c.JSON(st)
}

func (s *Server) totpSetup(c *fiber.Ctx) error {
	st, err := s.Auth.SetupTOTP(c.UserContext(), principal(c))
	if err != nil {
		return authErr(err)
	}
	return c.JSON(st)
}

type totpCodeBody struct {
	Code         string `json:"code"`
	RecoveryCode string `json:"recovery_code"`
}

func (s *Server) totpEnable(c *fiber.Ctx) error {
	var b totpCodeBody
	if err := decodeStrict(c.Body(), &b); err != nil {
		return err
	}
	if b.Code == "" || b.RecoveryCode != "" {
		return problem.Invalid(problem.FieldError{Field: "code", Code: "required", Message: "code (from the authenticator app) is required"})
	}
	r, err := s.Auth.EnableTOTP(c.UserContext(), principal(c), b.Code)
	if err != nil {
		return s.throttled(c, principal(c).UserID, "totp_enable", err, nil)
	}
	m := fiber.Map{"enabled": true, "recovery_codes": r.RecoveryCodes}
	if r.Session != nil {
		// The restricted session is over; here is a full one, the same way.
		s.sessionAnswer(c, m, r.Session, viaCookie(c))
	}
	return c.JSON(m)
}

func (s *Server) totpDisable(c *fiber.Ctx) error {
	var b totpCodeBody
	if err := decodeStrict(c.Body(), &b); err != nil {
		return err
	}
	if (b.Code == "") == (b.RecoveryCode == "") {
		return problem.Invalid(problem.FieldError{Field: "code", Code: "required", Message: "one of code and recovery_code is required"})
	}
	if err := s.Auth.DisableTOTP(c.UserContext(), principal(c), b.Code, b.RecoveryCode); err != nil {
		return s.throttled(c, principal(c).UserID, "totp_disable", err, nil)
	}
	return c.SendStatus(http.StatusNoContent)
}

// resetTOTP turns a user's second factor off (admin; a lost device).
func (s *Server) resetTOTP(c *fiber.Ctx) error {
	if err := s.Auth.ResetTOTP(c.UserContext(), principal(c), c.Params("id")); err != nil {
		return authErr(err)
	}
	return c.SendStatus(http.StatusNoContent)
}

package server

import (
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/jimu-crm/jimu/engine/catalog"
)

// openAPI answers with an OpenAPI 3.1 document generated from the live
// metadata, as the caller sees it: the entities they may use, without the
// fields hidden from them, and without the admin routes unless they are
// an admin. Each entity's request body schema is its JSON Schema, the same
// document every write is validated against.
func (s *Server) openAPI(c *fiber.Ctx) error {
	p := principal(c)
	var contracts []Contract
	for _, e := range s.Catalog.List() {
		if schema, ok := s.contract(c.UserContext(), p, e); ok {
			contracts = append(contracts, Contract{Entity: e, Schema: schema})
		}
	}
	return c.JSON(OpenAPI(contracts, s.Version, p.IsAdmin()))
}

// Contract is an entity and its JSON Schema as one caller sees it.
type Contract struct {
	Entity *catalog.Entity
	Schema map[string]any
}

// OpenAPI builds the document; without admin it leaves out the routes
// only admins may call.
func OpenAPI(entities []Contract, version string, admin bool) map[string]any {
	schemas := map[string]any{
		"Problem": map[string]any{
			"type": "object",
			"properties": map[string]any{
				"status": map[string]any{"type": "integer"},
				"title":  map[string]any{"type": "string"},
				"detail": map[string]any{"type": "string"},
				"errors": map[string]any{"type": "array", "items": map[string]any{
					"type": "object",
					"properties": map[string]any{
						"field": map[string]any{"type": "string"}, "code": map[string]any{"type": "string"},
						"message": map[string]any{"type": "string"},
					},
				}},
			},
		},
	}
	paths := map[string]any{
		"/auth/login": map[string]any{"post": op("Sign in", "auth", jsonBody(map[string]any{
			"type": "object", "required": []string{"email", "password"},
			"properties": map[string]any{"email": map[string]any{"type": "string"}, "password": map[string]any{"type": "string"}},
		}), map[string]any{"200": okJSON("A bearer token and the user", map[string]any{"type": "object"})}, false)},
	}
	obj := map[string]any{"type": "object"}
	for path, methods := range map[string]map[string]string{
		"/auth/login/totp":               {"post": "Second step of a sign-in with TOTP"},
		"/auth/logout":                   {"post": "Sign out (revokes the session)"},
		"/auth/me":                       {"get": "The signed-in user"},
		"/auth/tokens":                   {"get": "Your API tokens", "post": "Create an API token (shown once; optional scope read_only or roles)"},
		"/auth/tokens/{id}":              {"delete": "Revoke an API token"},
		"/auth/totp":                     {"get": "Your second-factor state"},
		"/auth/totp/setup":               {"post": "Start TOTP setup: secret and otpauth URL"},
		"/auth/totp/enable":              {"post": "Turn TOTP on with a code; returns recovery codes"},
		"/auth/totp/disable":             {"post": "Turn TOTP off with a code"},
		"/auth/password":                 {"post": "Change your password (current_password, new_password); your other sessions end"},
		"/meta/entities":                 {"get": "Entities (admin)", "post": "Create an entity (admin)"},
		"/meta/entities/{entity}":        {"get": "An entity (admin)", "put": "Replace an entity (admin)", "delete": "Delete an entity without records (admin)"},
		"/meta/entities/{entity}/schema": {"get": "The entity's JSON Schema"},
		"/meta/entities/{entity}/fields": {"post": "Add a field (admin)"},
		"/meta/entities/{entity}/fields/{field}": {"get": "A field (admin)", "put": "Replace a field (admin)",
			"patch": "Change a field; a type change converts every record or is refused (admin)", "delete": "Hide a field, keeping its data (admin)"},
		"/meta/entities/{entity}/history": {"get": "Every version of an entity (admin)"},
		"/users":                          {"get": "Users (admin)", "post": "Create a user (admin)"},
		"/users/{id}":                     {"get": "A user (admin)", "patch": "Change roles, teams, attributes, active (admin)"},
		"/users/{id}/password":            {"post": "Set a user's password (admin); their sessions end"},
		"/teams":                          {"get": "Teams (admin)", "post": "Create a team (admin)"},
		"/teams/{id}":                     {"get": "A team (admin)", "patch": "Change a team (admin)", "delete": "Delete a team without sub-teams (admin)"},
		"/roles":                          {"get": "Roles (admin)"},
		"/roles/{name}":                   {"get": "A role (admin)", "put": "Create or replace a role (admin)", "delete": "Delete a role (admin)"},
		"/access/explain":                 {"get": "Why a user can or cannot act on a record (admin)"},
		"/audit":                          {"get": "The audit log (admin; others per readable record)"},
	} {
		item := map[string]any{}
		for m, summary := range methods {
			if !admin && strings.HasSuffix(summary, "(admin)") {
				continue
			}
			var body map[string]any
			if m == "post" || m == "put" || m == "patch" {
				body = jsonBody(obj)
			}
			item[m] = op(summary, "platform", body, map[string]any{"200": okJSON("OK", obj)}, true)
		}
		if len(item) > 0 {
			paths[path] = item
		}
	}
	problem := func(d string) map[string]any {
		return map[string]any{"description": d, "content": map[string]any{"application/problem+json": map[string]any{
			"schema": map[string]any{"$ref": "#/components/schemas/Problem"}}}}
	}
	idParam := map[string]any{"name": "id", "in": "path", "required": true, "schema": map[string]any{"type": "string"}}
	for _, ec := range entities {
		e := ec.Entity
		input := map[string]any{}
		for k, v := range ec.Schema {
			if k != "$schema" && k != "$id" {
				input[k] = v
			}
		}
		name := e.Name
		schemas[name+"_input"] = input
		props := map[string]any{
			"id": map[string]any{"type": "string", "readOnly": true}, "version": map[string]any{"type": "integer", "readOnly": true},
			"created_at": map[string]any{"type": "string", "format": "date-time", "readOnly": true},
			"updated_at": map[string]any{"type": "string", "format": "date-time", "readOnly": true},
			"created_by": map[string]any{"type": "string", "readOnly": true}, "updated_by": map[string]any{"type": "string", "readOnly": true},
		}
		if e.Ownership {
			props["owner"] = map[string]any{"type": "string"}
		}
		if p, ok := ec.Schema["properties"].(map[string]any); ok {
			for k, v := range p {
				props[k] = v
			}
		}
		schemas[name] = map[string]any{"type": "object", "title": ec.Schema["title"], "properties": props}
		ref := map[string]any{"$ref": "#/components/schemas/" + name}
		inRef := map[string]any{"$ref": "#/components/schemas/" + name + "_input"}
		errs := map[string]any{"400": problem("Bad request"), "401": problem("Not signed in"), "404": problem("Not found"),
			"409": problem("Version conflict or duplicate value"), "422": problem("Validation failed")}
		with := func(code string, resp map[string]any) map[string]any {
			out := map[string]any{code: resp}
			for k, v := range errs {
				out[k] = v
			}
			return out
		}
		paths["/records/"+name] = map[string]any{
			"get": withParams(op("List "+name+" records", name, nil, with("200", okJSON("One page", map[string]any{
				"type": "object", "properties": map[string]any{
					"items": map[string]any{"type": "array", "items": ref}, "next_cursor": map[string]any{"type": []string{"string", "null"}},
					"count": map[string]any{"type": "integer"}, "count_capped": map[string]any{"type": "boolean"},
				}})), true), []any{
				query("filter", "An expression, e.g. stage in [\"won\"] and amount >= 1000"),
				query("sort", "Comma-separated fields, - for descending, e.g. -amount,name"),
				query("fields", "Comma-separated fields to return"),
				map[string]any{"name": "limit", "in": "query", "schema": map[string]any{"type": "integer", "minimum": 1, "maximum": 500, "default": 50}},
				query("cursor", "next_cursor of the previous page"),
				map[string]any{"name": "count", "in": "query", "schema": map[string]any{"type": "boolean"}},
			}),
			"post": op("Create a "+name+" record", name, jsonBody(inRef), with("201", okJSON("Created", ref)), true),
		}
		paths["/records/"+name+"/{id}"] = map[string]any{
			"parameters": []any{idParam},
			"get":        op("Get a "+name+" record", name, nil, with("200", okJSON("The record", ref)), true),
			"patch":      op("Change fields of a "+name+" record (If-Match: version)", name, jsonBody(map[string]any{"type": "object"}), with("200", okJSON("Updated", ref)), true),
			"put":        op("Replace a "+name+" record (If-Match: version)", name, jsonBody(inRef), with("200", okJSON("Replaced", ref)), true),
			"delete":     op("Move a "+name+" record to the recycle bin", name, nil, with("204", map[string]any{"description": "Deleted"}), true),
		}
	}
	return map[string]any{
		"openapi": "3.1.0",
		"info": map[string]any{"title": "Jimu API", "version": version,
			"description": "Generated from the live metadata: every entity is served by the same records API."},
		"jsonSchemaDialect": "https://json-schema.org/draft/2020-12/schema",
		"servers":           []any{map[string]any{"url": "/api/v1"}},
		"security":          []any{map[string]any{"bearer": []any{}}},
		"paths":             paths,
		"components": map[string]any{
			"schemas":         schemas,
			"securitySchemes": map[string]any{"bearer": map[string]any{"type": "http", "scheme": "bearer"}},
		},
	}
}

func op(summary, tag string, body map[string]any, responses map[string]any, secured bool) map[string]any {
	o := map[string]any{"summary": summary, "tags": []string{tag}, "responses": responses}
	if body != nil {
		o["requestBody"] = body
	}
	if !secured {
		o["security"] = []any{}
	}
	return o
}

func withParams(o map[string]any, params []any) map[string]any {
	o["parameters"] = params
	return o
}

func query(name, desc string) map[string]any {
	return map[string]any{"name": name, "in": "query", "description": desc, "schema": map[string]any{"type": "string"}}
}

func jsonBody(schema map[string]any) map[string]any {
	return map[string]any{"required": true, "content": map[string]any{"application/json": map[string]any{"schema": schema}}}
}

func okJSON(desc string, schema map[string]any) map[string]any {
	return map[string]any{"description": desc, "content": map[string]any{"application/json": map[string]any{"schema": schema}}}
}

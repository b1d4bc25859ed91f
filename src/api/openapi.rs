//! The OpenAPI 3 document served at `/api/v1/openapi.json`, generated from [`OPERATIONS`]: one
//! row per endpoint. Adding an endpoint is a row here, a route in `router`, and a row in the
//! integration tests' isolation matrix (which checks that every row here has one).

use serde_json::{json, Map, Value};

/// Who may call an operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// No token needed.
    Public,
    /// Bureau tokens, and park tokens for their own park (another park's answers 404).
    ParkScoped,
    /// Bureau tokens only (park tokens get 403, or 404 for another park's resource).
    Bureau,
}

/// A query or path parameter.
#[derive(Debug, Clone, Copy)]
pub struct Param {
    pub name: &'static str,
    pub location: &'static str,
    pub required: bool,
    pub schema: &'static str,
    pub format: Option<&'static str>,
    pub description: &'static str,
}

const fn path(name: &'static str, description: &'static str) -> Param {
    Param {
        name,
        location: "path",
        required: true,
        schema: "string",
        format: None,
        description,
    }
}

const fn query(
    name: &'static str,
    schema: &'static str,
    format: Option<&'static str>,
    description: &'static str,
) -> Param {
    Param {
        name,
        location: "query",
        required: false,
        schema,
        format,
        description,
    }
}

const PARK: Param = path("park", "park id");
const POINT: Param = path("point", "monitoring point id");
const ALERT: Param = Param {
    schema: "integer",
    ..path("id", "alert id")
};
const FROM_TIME: Param = query(
    "from",
    "string",
    Some("date-time"),
    "range start (RFC 3339)",
);
const TO_TIME: Param = query(
    "to",
    "string",
    Some("date-time"),
    "range end, exclusive (RFC 3339)",
);

/// One endpoint.
#[derive(Debug, Clone, Copy)]
pub struct Operation {
    pub method: &'static str,
    pub path: &'static str,
    pub summary: &'static str,
    pub access: Access,
    pub params: &'static [Param],
    /// Name of the request body schema in `components.schemas`.
    pub body: Option<&'static str>,
    /// Status of success.
    pub ok: u16,
}

/// Every endpoint of `/api/v1`.
pub const OPERATIONS: &[Operation] = &[
    Operation {
        method: "get",
        path: "/api/v1/openapi.json",
        summary: "This document",
        access: Access::Public,
        params: &[],
        body: None,
        ok: 200,
    },
    Operation {
        method: "get",
        path: "/api/v1/compliance",
        summary:
            "Every visible park's monitoring rate, data rates, open exceedances and energy status",
        access: Access::ParkScoped,
        params: &[],
        body: None,
        ok: 200,
    },
    Operation {
        method: "get",
        path: "/api/v1/parks",
        summary: "Parks the token may read",
        access: Access::ParkScoped,
        params: &[],
        body: None,
        ok: 200,
    },
    Operation {
        method: "get",
        path: "/api/v1/parks/{park}",
        summary: "A park with its energy baseline and target",
        access: Access::ParkScoped,
        params: &[PARK],
        body: None,
        ok: 200,
    },
    Operation {
        method: "put",
        path: "/api/v1/parks/{park}",
        summary: "Create or update a park with its points, limits and baseline (registry entry)",
        access: Access::Bureau,
        params: &[PARK],
        body: Some("ParkEntry"),
        ok: 200,
    },
    Operation {
        method: "get",
        path: "/api/v1/parks/{park}/points",
        summary: "The park's points with their status now and their discharge limits",
        access: Access::ParkScoped,
        params: &[PARK],
        body: None,
        ok: 200,
    },
    Operation {
        method: "get",
        path: "/api/v1/parks/{park}/points/{point}/readings",
        summary:
            "Readings of a point and pollutant: raw for short ranges, hourly rollups for long ones",
        access: Access::ParkScoped,
        params: &[
            PARK,
            POINT,
            Param {
                required: true,
                ..query(
                    "pollutant",
                    "string",
                    None,
                    "HJ 212-2017 code or alias (cod, nh3n, tp, tn, ph, flow)",
                )
            },
            FROM_TIME,
            TO_TIME,
            query("resolution", "string", None, "auto (default), raw or hour"),
            query(
                "limit",
                "integer",
                None,
                "raw rows per page, at most 10000; a full page gives next_from",
            ),
        ],
        body: None,
        ok: 200,
    },
    Operation {
        method: "get",
        path: "/api/v1/parks/{park}/compliance",
        summary: "Monitoring rate and point statuses now",
        access: Access::ParkScoped,
        params: &[PARK],
        body: None,
        ok: 200,
    },
    Operation {
        method: "get",
        path: "/api/v1/parks/{park}/compliance/rates",
        summary: "Daily transmission, valid and effective transmission rates over local days",
        access: Access::ParkScoped,
        params: &[
            PARK,
            query(
                "from",
                "string",
                Some("date"),
                "first local day (default: to)",
            ),
            query(
                "to",
                "string",
                Some("date"),
                "last local day, included (default: today)",
            ),
        ],
        body: None,
        ok: 200,
    },
    Operation {
        method: "get",
        path: "/api/v1/parks/{park}/exceedances",
        summary: "Discharge exceedance episodes overlapping a range (default: the last 7 days)",
        access: Access::ParkScoped,
        params: &[PARK, FROM_TIME, TO_TIME],
        body: None,
        ok: 200,
    },
    Operation {
        method: "get",
        path: "/api/v1/parks/{park}/energy",
        summary: "Energy intensity and reduction against the required path",
        access: Access::ParkScoped,
        params: &[
            PARK,
            query("year", "integer", None, "default: the current year"),
        ],
        body: None,
        ok: 200,
    },
    Operation {
        method: "get",
        path: "/api/v1/parks/{park}/energy-reports",
        summary: "The park's energy reports",
        access: Access::ParkScoped,
        params: &[PARK],
        body: None,
        ok: 200,
    },
    Operation {
        method: "post",
        path: "/api/v1/parks/{park}/energy-reports",
        summary: "Submit an energy report (a park may submit its own)",
        access: Access::ParkScoped,
        params: &[PARK],
        body: Some("EnergyReport"),
        ok: 201,
    },
    Operation {
        method: "get",
        path: "/api/v1/alerts",
        summary: "Alerts, newest first (a park token sees its own park's only)",
        access: Access::ParkScoped,
        params: &[
            query(
                "state",
                "string",
                None,
                "open (default: pending or firing), pending, firing, resolved or all",
            ),
            query("park", "string", None, "one park"),
            query("rule", "string", None, "one rule, e.g. point_offline"),
            query("limit", "integer", None, "at most this many (default 100, at most 1000)"),
        ],
        body: None,
        ok: 200,
    },
    Operation {
        method: "get",
        path: "/api/v1/alerts/{id}",
        summary: "An alert with its history (transitions and acknowledgements)",
        access: Access::ParkScoped,
        params: &[ALERT],
        body: None,
        ok: 200,
    },
    Operation {
        method: "post",
        path: "/api/v1/alerts/{id}/ack",
        summary: "Acknowledge an alert: no more re-notification or escalation; it still resolves by itself",
        access: Access::Bureau,
        params: &[ALERT],
        body: Some("Ack"),
        ok: 200,
    },
];

fn param_json(p: &Param) -> Value {
    let mut schema = json!({ "type": p.schema });
    if let Some(f) = p.format {
        schema["format"] = json!(f);
    }
    json!({
        "name": p.name, "in": p.location, "required": p.required,
        "description": p.description, "schema": schema,
    })
}

fn error_response(description: &str) -> Value {
    json!({
        "description": description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    })
}

fn operation_json(op: &Operation) -> Value {
    let mut responses = Map::new();
    responses.insert(
        op.ok.to_string(),
        json!({"description": "success", "content": {"application/json": {"schema": {"type": "object"}}}}),
    );
    if op.access != Access::Public {
        responses.insert(
            "401".into(),
            error_response("no token, or an unknown or revoked one"),
        );
        responses.insert(
            "404".into(),
            error_response("unknown, or another park's (park tokens)"),
        );
        responses.insert(
            "400".into(),
            error_response("malformed path, query or body"),
        );
        responses.insert("422".into(), error_response("invalid values"));
    }
    if op.access == Access::Bureau {
        responses.insert("403".into(), error_response("park tokens may not do this"));
        responses.insert("409".into(), error_response("conflicts with another row"));
    }
    let mut o = json!({
        "summary": op.summary,
        "operationId": format!("{}{}", op.method, op.path.replace(['/', '{', '}', '-', '.'], "_")),
        "parameters": op.params.iter().map(param_json).collect::<Vec<_>>(),
        "responses": responses,
    });
    if op.access == Access::Public {
        o["security"] = json!([]);
    }
    if op.access == Access::Bureau {
        o["description"] = json!("Bureau tokens only.");
    }
    if let Some(body) = op.body {
        o["requestBody"] = json!({
            "required": true,
            "content": {"application/json": {"schema": {"$ref": format!("#/components/schemas/{body}")}}},
        });
    }
    o
}

/// The document.
pub fn document() -> Value {
    let mut paths = Map::new();
    for op in OPERATIONS {
        let entry = paths.entry(op.path).or_insert_with(|| json!({}));
        entry[op.method] = operation_json(op);
    }
    json!({
        "openapi": "3.0.3",
        "info": {
            "title": "greenmon API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Parks, points, readings, compliance and energy reports. Bearer tokens \
                            from `greenmon token create`: bureau tokens read and manage everything; \
                            park tokens read their own park and submit its energy reports.",
        },
        "servers": [{"url": "/"}],
        "security": [{"bearer": []}],
        "paths": paths,
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": {
                "Error": {
                    "type": "object", "required": ["error", "message"],
                    "properties": {
                        "error": {"type": "string", "description": "stable code: bad_request, unauthorized, forbidden, not_found, method_not_allowed, conflict, unprocessable, internal"},
                        "message": {"type": "string"},
                    },
                },
                "EnergyReport": {
                    "type": "object", "required": ["period", "energy_tce", "value_added_10k_yuan"],
                    "additionalProperties": false,
                    "properties": {
                        "period": {"type": "string", "description": "2018-03, 2018-Q1 or 2018"},
                        "energy_tce": {"type": "number", "minimum": 0},
                        "value_added_10k_yuan": {"type": "number", "exclusiveMinimum": 0},
                        "price_index": {"type": "number", "exclusiveMinimum": 0, "default": 1},
                    },
                },
                "Ack": {
                    "type": "object", "required": ["by"], "additionalProperties": false,
                    "properties": {
                        "by": {"type": "string", "description": "who acknowledges"},
                        "comment": {"type": "string"},
                    },
                },
                "ParkEntry": {
                    "type": "object", "required": ["id", "name", "baseline_intensity"],
                    "additionalProperties": false,
                    "description": "One park of the registry file (see `greenmon registry import`), as JSON.",
                    "properties": {
                        "id": {"type": "string"}, "name": {"type": "string"},
                        "name_en": {"type": "string"},
                        "baseline_year": {"type": "integer", "default": 2015},
                        "baseline_intensity": {"type": "number"},
                        "target_year": {"type": "integer", "default": 2020},
                        "target_reduction": {"type": "number", "default": 0.2},
                        "points": {"type": "array", "items": {"$ref": "#/components/schemas/PointEntry"}},
                    },
                },
                "PointEntry": {
                    "type": "object", "required": ["id", "name", "kind"],
                    "additionalProperties": false,
                    "properties": {
                        "id": {"type": "string"}, "name": {"type": "string"},
                        "kind": {"type": "string", "enum": ["sewage_outlet", "treatment_inlet", "treatment_outlet", "other"]},
                        "mn": {"type": "string"},
                        "required": {"type": "boolean", "default": true},
                        "interval_secs": {"type": "integer", "default": 60},
                        "allowed_gap_secs": {"type": "integer"},
                        "hj212_password": {"type": "string"},
                        "crc_modes": {"type": "array", "items": {"type": "string"}},
                        "limits": {
                            "type": "object",
                            "additionalProperties": {
                                "type": "object",
                                "properties": {"lower": {"type": "number"}, "upper": {"type": "number"}},
                            },
                        },
                    },
                },
            },
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_path_parameter_is_declared() {
        for op in OPERATIONS {
            for seg in op.path.split('/').filter(|s| s.starts_with('{')) {
                let name = seg.trim_matches(['{', '}']);
                assert!(
                    op.params
                        .iter()
                        .any(|p| p.name == name && p.location == "path"),
                    "{} {} lacks path parameter {name}",
                    op.method,
                    op.path
                );
            }
        }
        let doc = document();
        assert_eq!(doc["openapi"], "3.0.3");
        assert!(doc["paths"]["/api/v1/parks/{park}"]["put"].is_object());
    }
}

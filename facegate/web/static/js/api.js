// Every call the console makes: the /v1 REST API with the session cookie, and on every
// state-changing request the session's CSRF token in X-CSRF-Token. Errors come back as
// ApiError carrying the API's own code and message.

export class ApiError extends Error {
  constructor(status, code, message, details) {
    super(message);
    this.status = status;
    this.code = code;
    this.details = details || {};
  }
}

export function csrfToken() {
  const meta = document.querySelector('meta[name="csrf-token"]');
  return meta ? meta.content : "";
}

const SAFE = new Set(["GET", "HEAD"]);

// api("/v1/identities", {method: "POST", json: {...}}) or {form: FormData}.
// Resolves to the JSON body (or a Blob for images and CSV); rejects with ApiError.
export async function api(path, { method = "GET", json, form, signal, csrf = true } = {}) {
  const headers = { Accept: "application/json" };
  if (!SAFE.has(method) && csrf) headers["X-CSRF-Token"] = csrfToken();
  let body;
  if (json !== undefined) {
    headers["Content-Type"] = "application/json";
    body = JSON.stringify(json);
  } else if (form !== undefined) {
    body = form;
  }
  let response;
  try {
    response = await fetch(path, { method, headers, body, signal, credentials: "same-origin" });
  } catch (error) {
    if (error.name === "AbortError") throw error;
    throw new ApiError(0, "NETWORK_ERROR", "The server could not be reached.");
  }
  const type = response.headers.get("content-type") || "";
  const data = type.includes("json") ? await response.json().catch(() => ({})) : await response.blob();
  if (!response.ok) {
    const error = (data && data.error) || {};
    if (response.status === 401 && !path.startsWith("/v1/auth/")) {
      location.assign("/ui/login?next=" + encodeURIComponent(location.pathname));
    }
    throw new ApiError(response.status, error.code || `HTTP_${response.status}`,
      error.message || response.statusText, error.details);
  }
  return data;
}

// Submit photos as the API takes them: multipart with the given file fields.
export function photoForm(fields, extra = {}) {
  const form = new FormData();
  for (const [name, file] of Object.entries(fields)) form.append(name, file, file.name || `${name}.jpg`);
  for (const [name, value] of Object.entries(extra)) {
    if (value !== undefined && value !== null && value !== "") form.append(name, String(value));
  }
  return form;
}

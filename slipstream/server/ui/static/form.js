// The launch form: one widget per input, built from the input's JSON Schema; used by launch.html.
// Every widget has read() (the JSON value, or throws FieldError naming the expected type) and
// write(value). No user data goes through innerHTML: text is set with textContent only.
"use strict";
(function () {
  class FieldError extends Error {
    constructor(message, element) {
      super(message);
      this.element = element;
    }
  }

  function el(tag, attrs, children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (value === undefined || value === null || value === false) continue;
      if (key === "text") node.textContent = value;
      else if (key === "class") node.className = value;
      else node.setAttribute(key, value === true ? "" : String(value));
    }
    for (const child of children || []) if (child) node.append(child);
    return node;
  }

  let counter = 0;
  const uid = (prefix) => `${prefix}-${++counter}`;

  function resolve(schema, root) {
    let seen = 0;
    while (schema && schema.$ref && seen++ < 32) {
      const path = schema.$ref.replace(/^#\//, "").split("/");
      let target = root;
      for (const part of path) target = target ? target[part] : undefined;
      const { $ref, ...rest } = schema;
      schema = Object.assign({}, target || {}, rest);
    }
    return schema || {};
  }

  function typeName(schema, root) {
    schema = resolve(schema, root);
    const kind = schema["x-slipstream-kind"];
    if (kind === "file") return "File (a URI or an upload)";
    if (kind === "directory") return "Directory (a URI or an upload)";
    if (kind === "dataframe") return "DataFrame (a parquet URI)";
    if (kind) return `${kind} (a URI)`;
    if (schema.enum) return `one of ${schema.enum.map((v) => JSON.stringify(v)).join(", ")}`;
    if (schema.anyOf) return schema.anyOf.map((s) => typeName(s, root)).join(" or ");
    switch (schema.type) {
      case "integer": return "an integer (int)";
      case "number": return schema.description === "seconds" ? "a duration in seconds (timedelta)" : "a number (float)";
      case "boolean": return "true or false (bool)";
      case "null": return "none";
      case "string": return schema.format === "date-time" ? "a date and time, ISO 8601 (datetime)" : "text (str)";
      case "array": return `a list of ${typeName(schema.items || {}, root)}`;
      case "object":
        if (schema.properties) return `an object ${schema.title || ""}`.trim();
        return `a dict of str to ${typeName(schema.additionalProperties || {}, root)}`;
      default: return "a JSON value";
    }
  }

  // -- widgets --------------------------------------------------------------------------------
  // build(schema, root, label, id) -> {node, read(), write(v), focus()}

  function scalar(schema, root, id) {
    const expected = typeName(schema, root);
    const isBool = schema.type === "boolean";
    const input = el("input", {
      id,
      type: isBool ? "checkbox" : "text",
      inputmode: schema.type === "integer" ? "numeric" : schema.type === "number" ? "decimal" : null,
      placeholder: schema.format === "date-time" ? "2026-01-31T12:00:00Z" : null,
      "aria-describedby": `${id}-error`,
    });
    const widget = {
      node: input,
      focus: () => input.focus(),
      write(value) {
        if (isBool) input.checked = Boolean(value);
        else input.value = value === undefined || value === null ? "" : String(value);
      },
      read() {
        if (isBool) return input.checked;
        const text = input.value.trim();
        const bad = () => new FieldError(`expected ${expected}, got ${JSON.stringify(input.value)}`, input);
        if (schema.type === "integer") {
          if (!/^[-+]?\d+$/.test(text)) throw bad();
          return Number(text);
        }
        if (schema.type === "number") {
          if (text === "" || !Number.isFinite(Number(text))) throw bad();
          return Number(text);
        }
        if (schema.format === "date-time") {
          if (!/^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?)?(Z|[+-]\d{2}:?\d{2})?$/.test(text) || Number.isNaN(Date.parse(text)))
            throw bad();
          return text;
        }
        return input.value;
      },
    };
    return widget;
  }

  function enumSelect(schema, id) {
    const select = el("select", { id, "aria-describedby": `${id}-error` });
    schema.enum.forEach((value, index) => select.append(el("option", { value: String(index), text: String(value) })));
    return {
      node: select,
      focus: () => select.focus(),
      write(value) {
        const index = schema.enum.findIndex((v) => JSON.stringify(v) === JSON.stringify(value));
        if (index >= 0) select.value = String(index);
      },
      read: () => schema.enum[Number(select.value)],
    };
  }

  function reference(schema, root, id, form) {
    const kind = schema["x-slipstream-kind"];
    const uri = el("input", { id, type: "text", placeholder: "a URI in the server's blob store", "aria-describedby": `${id}-error` });
    const box = el("span", { class: "reference" }, [uri]);
    const uploadedName = form.uploadUrl ? SlipUpload.attach(box, uri, kind, form, el) : () => "";
    return {
      node: box,
      focus: () => uri.focus(),
      write(value) {
        if (value && typeof value === "object") uri.value = value.uri || value.path || "";
        else uri.value = value || "";
      },
      read() {
        const text = uri.value.trim();
        if (!text) throw new FieldError(`expected ${typeName(schema, root)}, got nothing`, uri);
        const name = uploadedName();
        return name ? { uri: text, name } : { uri: text };
      },
    };
  }

  function rows(schema, root, id, form, keyed) {
    const itemSchema = keyed ? schema.additionalProperties || {} : schema.items || {};
    const list = el("ol", { class: keyed ? "rows dict" : "rows" });
    const add = el("button", { type: "button", class: "add", text: keyed ? "+ add entry" : "+ add item" });
    const box = el("div", { class: "collection", id }, [list, add]);
    const items = [];
    function addRow(value, key) {
      const rowId = uid(id);
      const child = build(itemSchema, root, rowId, form);
      const keyInput = keyed ? el("input", { type: "text", class: "key", placeholder: "key", "aria-label": "key", value: key || "" }) : null;
      const remove = el("button", { type: "button", class: "remove", "aria-label": "remove this row", text: "−" });
      const row = el("li", {}, [keyInput, child.node, remove]);
      const entry = { row, child, keyInput };
      remove.addEventListener("click", () => {
        items.splice(items.indexOf(entry), 1);
        row.remove();
        add.focus();
      });
      items.push(entry);
      list.append(row);
      if (value !== undefined) child.write(value);
      return entry;
    }
    add.addEventListener("click", () => addRow().child.focus());
    return {
      node: box,
      focus: () => (items.length ? items[0].child.focus() : add.focus()),
      write(value) {
        items.splice(0).forEach((entry) => entry.row.remove());
        if (keyed) Object.entries(value || {}).forEach(([k, v]) => addRow(v, k));
        else (value || []).forEach((v) => addRow(v));
      },
      read() {
        if (!keyed) return items.map((entry) => entry.child.read());
        const out = {};
        for (const entry of items) {
          const key = entry.keyInput.value;
          if (key in out) throw new FieldError(`the key ${JSON.stringify(key)} is given twice`, entry.keyInput);
          out[key] = entry.child.read();
        }
        return out;
      },
    };
  }

  function struct(schema, root, id, form) {
    const required = new Set(schema.required || []);
    const fields = {};
    const box = el("fieldset", { class: "struct", id }, [el("legend", { text: schema.title || "fields" })]);
    for (const [name, sub] of Object.entries(schema.properties || {})) {
      const fieldId = uid(id);
      const resolved = resolve(sub, root);
      const optional = !required.has(name);
      const widget = field(resolved, root, fieldId, form, name, optional, "default" in resolved, resolved.default);
      fields[name] = widget;
      box.append(widget.row);
    }
    return {
      node: box,
      focus: () => Object.values(fields)[0]?.focus(),
      write(value) {
        for (const [name, widget] of Object.entries(fields)) if (value && name in value) widget.write(value[name]);
      },
      read() {
        const out = {};
        for (const [name, widget] of Object.entries(fields)) {
          const value = widget.readOptional();
          if (value !== undefined) out[name] = value;
        }
        return out;
      },
    };
  }

  function optional(schema, root, id, form) {
    const variants = schema.anyOf.filter((s) => resolve(s, root).type !== "null");
    const inner = variants.length === 1 ? build(variants[0], root, `${id}-value`, form) : raw({}, `${id}-value`, typeName(schema, root));
    const toggle = el("input", { type: "checkbox", id, "aria-label": "give a value (unchecked: none)" });
    const holder = el("span", { class: "optional-value", hidden: true }, [inner.node]);
    toggle.addEventListener("change", () => {
      holder.hidden = !toggle.checked;
      if (toggle.checked) inner.focus();
    });
    return {
      node: el("span", { class: "optional" }, [el("label", { class: "inline" }, [toggle, " set (else none)"]), holder]),
      focus: () => toggle.focus(),
      write(value) {
        toggle.checked = value !== null && value !== undefined;
        holder.hidden = !toggle.checked;
        if (toggle.checked) inner.write(value);
      },
      read: () => (toggle.checked ? inner.read() : null),
    };
  }

  function raw(schema, id, expected) {
    const area = el("textarea", { id, rows: 3, spellcheck: "false", class: "json", "aria-describedby": `${id}-error` });
    return {
      node: area,
      focus: () => area.focus(),
      write(value) { area.value = value === undefined ? "" : JSON.stringify(value, null, 2); },
      read() {
        try {
          return JSON.parse(area.value);
        } catch (error) {
          throw new FieldError(`expected JSON for ${expected}: ${error.message}`, area);
        }
      },
    };
  }

  function build(schema, root, id, form) {
    schema = resolve(schema, root);
    if (schema["x-slipstream-kind"]) return reference(schema, root, id, form);
    if (schema.enum) return enumSelect(schema, id);
    if (schema.anyOf) {
      if (schema.anyOf.some((s) => resolve(s, root).type === "null")) return optional(schema, root, id, form);
      return raw(schema, id, typeName(schema, root));
    }
    if (schema.type === "array") return rows(schema, root, id, form, false);
    if (schema.type === "object" && schema.properties) return struct(schema, root, id, form);
    if (schema.type === "object") return rows(schema, root, id, form, true);
    if (["integer", "number", "string", "boolean"].includes(schema.type)) return scalar(schema, root, id);
    return raw(schema, id, typeName(schema, root));
  }

  // A labelled field: the widget, a raw-JSON switch, its error slot; optional fields may be left out.
  function field(schema, root, id, form, name, isOptional, hasDefault, defaultValue, fixed) {
    const expected = typeName(schema, root);
    let widget = build(schema, root, id, form);
    const rawWidget = raw(schema, `${id}-raw`, expected);
    const error = el("span", { class: "field-error", id: `${id}-error`, role: "alert" });
    const rawSwitch = el("button", { type: "button", class: "raw-switch", "aria-pressed": "false", text: "JSON" });
    const holder = el("div", { class: "widget" }, [widget.node]);
    const label = el("label", { for: id }, [el("span", { class: "name", text: name }), " ", el("span", { class: "type", text: expected })]);
    const row = el("div", { class: "field", "data-input": name }, [el("div", { class: "field-head" }, [label, rawSwitch]), holder, error]);
    let usingRaw = false;
    let touched = !isOptional; // an optional field nobody touched is left out
    row.addEventListener("input", () => { touched = true; });
    row.addEventListener("change", () => { touched = true; });
    rawSwitch.addEventListener("click", () => {
      const current = safeRead();
      usingRaw = !usingRaw;
      rawSwitch.setAttribute("aria-pressed", String(usingRaw));
      holder.replaceChildren(usingRaw ? rawWidget.node : widget.node);
      if (current !== undefined) (usingRaw ? rawWidget : widget).write(current);
      (usingRaw ? rawWidget : widget).focus();
    });
    function safeRead() {
      try { return (usingRaw ? rawWidget : widget).read(); } catch { return undefined; }
    }
    if (hasDefault) {
      widget.write(defaultValue);
      row.append(el("span", { class: "default", text: `default: ${JSON.stringify(defaultValue)}` }));
    }
    if (fixed) {
      row.classList.add("fixed");
      row.append(el("span", { class: "default", text: "fixed by the launch plan" }));
      for (const control of row.querySelectorAll("input, select, textarea, button")) control.disabled = true;
    }
    const api = {
      row,
      focus: () => (usingRaw ? rawWidget : widget).focus(),
      write(value) {
        touched = true;
        (usingRaw ? rawWidget : widget).write(value);
      },
      read() {
        error.textContent = "";
        row.classList.remove("invalid");
        try {
          return (usingRaw ? rawWidget : widget).read();
        } catch (problem) {
          if (!(problem instanceof FieldError)) throw problem;
          if (!problem.shown) error.textContent = problem.message; // else a nested field shows it
          problem.shown = true;
          row.classList.add("invalid");
          throw problem;
        }
      },
      // undefined = leave it out (an optional field with a default nobody changed)
      readOptional: () => (touched ? api.read() : undefined),
      showError(message) {
        error.textContent = message;
        row.classList.toggle("invalid", Boolean(message));
      },
      get fixed() { return Boolean(fixed); },
    };
    return api;
  }

  // -- the form -------------------------------------------------------------------------------
  // spec: {inputs: [{name, schema, type, has_default, default, fixed}], prefill: {name: value}}
  function mount(formElement, spec, options) {
    const fields = {};
    const list = formElement.querySelector(".inputs");
    const form = {
      uploadUrl: options.uploadUrl,
      headers: options.headers || (() => ({})),
      showError: (element, message) => {
        const row = element.closest(".field");
        if (row) fields[row.dataset.input].showError(message);
      },
    };
    for (const input of spec.inputs) {
      const id = uid(`in-${input.name.replace(/[^A-Za-z0-9_-]/g, "_")}`);
      const schema = input.schema || {};
      const widget = field(schema, schema, id, form, input.name, input.has_default, input.has_default, input.default, input.fixed);
      if (spec.prefill && input.name in spec.prefill) widget.write(spec.prefill[input.name]);
      fields[input.name] = widget;
      list.append(widget.row);
    }
    const status = formElement.querySelector(".form-status");
    formElement.addEventListener("submit", async (event) => {
      event.preventDefault();
      status.textContent = "";
      const inputs = {};
      let first = null;
      for (const [name, widget] of Object.entries(fields)) {
        if (widget.fixed) continue;
        try {
          const value = widget.readOptional();
          if (value !== undefined) inputs[name] = value;
        } catch (problem) {
          if (!(problem instanceof FieldError)) throw problem;
          first = first || problem;
        }
      }
      if (first) {
        status.textContent = "Not launched: fix the fields marked below.";
        (first.element || formElement).focus();
        return;
      }
      status.textContent = "Launching…";
      const response = await fetch(options.launchUrl, {
        method: "POST",
        headers: Object.assign({ "Content-Type": "application/json" }, form.headers()),
        body: JSON.stringify(Object.assign({}, options.body || {}, { inputs })),
      });
      const body = await response.json().catch(() => ({}));
      if (response.ok && body.url) {
        window.location.assign(body.url);
        return;
      }
      status.textContent = "Not launched: " + (typeof body.detail === "string" ? body.detail : "see the fields below.");
      for (const problem of body.errors || []) {
        if (fields[problem.input]) fields[problem.input].showError(problem.message);
      }
    });
    return { fields };
  }

  window.SlipForm = { mount, typeName };
})();

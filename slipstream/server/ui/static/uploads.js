// Uploads for File and Directory inputs of the launch form (form.js calls SlipUpload.attach).
// A File is sent as it is; a Directory as one archive: a chosen .zip/.tar/.tar.gz as it is, or
// chosen files or a folder packed here into a tar (the server unpacks it, checking each name).
"use strict";
window.SlipUpload = (function () {
  const ARCHIVE = /\.(zip|tar|tar\.gz|tgz)$/i;
  const encoder = new TextEncoder();

  function field(header, offset, length, text) {
    const bytes = encoder.encode(text);
    if (bytes.length > length) throw new Error(`the name ${text} is too long for an archive`);
    header.set(bytes, offset);
  }

  function octal(header, offset, length, number) {
    field(header, offset, length, number.toString(8).padStart(length - 1, "0") + "\0");
  }

  // A POSIX (ustar) header for one file; names over 100 bytes use the 155-byte prefix.
  function header(path, size, mtime) {
    const block = new Uint8Array(512);
    let name = path;
    let prefix = "";
    if (encoder.encode(path).length > 100) {
      const cut = path.lastIndexOf("/", path.length - 1);
      prefix = path.slice(0, cut);
      name = path.slice(cut + 1);
    }
    field(block, 0, 100, name);
    octal(block, 100, 8, 0o644);
    octal(block, 108, 8, 0);
    octal(block, 116, 8, 0);
    octal(block, 124, 12, size);
    octal(block, 136, 12, Math.floor(mtime / 1000));
    field(block, 156, 1, "0");
    field(block, 257, 6, "ustar\0");
    field(block, 263, 2, "00");
    field(block, 345, 155, prefix);
    field(block, 148, 8, "        ");
    let sum = 0;
    for (const byte of block) sum += byte;
    field(block, 148, 8, sum.toString(8).padStart(6, "0") + "\0 ");
    return block;
  }

  // A tar of the files (a Blob: their contents are read by the browser as it sends it).
  function tar(entries) {
    const parts = [];
    for (const { path, file } of entries) {
      parts.push(header(path, file.size, file.lastModified || Date.now()), file);
      const pad = (512 - (file.size % 512)) % 512;
      if (pad) parts.push(new Uint8Array(pad));
    }
    parts.push(new Uint8Array(1024));
    return new Blob(parts, { type: "application/x-tar" });
  }

  // Adds the upload controls beside a URI box; returns () -> the name the server gave the
  // upload while the box still holds the URI it returned ("" otherwise).
  function attach(box, uri, kind, form, el) {
    let uploaded = { uri: "", name: "" };
    async function send(url, body, name) {
      const address = `${url}?name=${encodeURIComponent(name)}`;
      const headers = Object.assign({ "Content-Type": "application/octet-stream" }, form.headers());
      const response = await fetch(address, { method: "POST", body, headers });
      const answer = await response.json().catch(() => ({}));
      if (!response.ok) {
        form.showError(uri, answer.detail || `the upload failed (${response.status})`);
        return;
      }
      uri.value = answer.uri;
      uploaded = { uri: answer.uri, name: answer.name || "" };
      form.showError(uri, "");
      box.dataset.uploaded = String(answer.files || 1);
    }
    function guarded(action) {
      return async (event) => {
        const chosen = Array.from(event.target.files || []);
        if (!chosen.length) return;
        try {
          await action(chosen);
        } catch (error) {
          form.showError(uri, String(error.message || error));
        }
      };
    }
    if (kind === "file") {
      const one = el("input", { type: "file", class: "upload-file", "aria-label": `upload a file for ${uri.id}` });
      one.addEventListener("change", guarded((files) => send(form.uploadUrl, files[0], files[0].name)));
      box.append(el("span", { class: "or", text: "or upload" }), one);
    } else if (kind === "directory") {
      const url = `${form.uploadUrl}/directory`;
      const files = el("input", { type: "file", multiple: true, class: "upload-files", "aria-label": `upload files or an archive for ${uri.id}` });
      files.addEventListener("change", guarded((chosen) => {
        if (chosen.length === 1 && ARCHIVE.test(chosen[0].name)) {
          return send(url, chosen[0], chosen[0].name.replace(ARCHIVE, ""));
        }
        return send(url, tar(chosen.map((file) => ({ path: file.name, file }))), "files");
      }));
      const folder = el("input", { type: "file", webkitdirectory: true, class: "upload-folder", "aria-label": `upload a folder for ${uri.id}` });
      folder.addEventListener("change", guarded((chosen) => {
        const top = chosen[0].webkitRelativePath.split("/")[0] || "folder";
        const entries = chosen.map((file) => ({ path: file.webkitRelativePath.split("/").slice(1).join("/"), file }));
        return send(url, tar(entries), top);
      }));
      box.append(
        el("span", { class: "or", text: "or upload files (or one .zip/.tar)" }), files,
        el("span", { class: "or", text: "or a folder" }), folder,
      );
    }
    return () => (uploaded.name && uri.value.trim() === uploaded.uri ? uploaded.name : "");
  }

  return { attach, tar };
})();

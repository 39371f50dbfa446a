// The launch page: mounts the form built from the interface (form.js) with its addresses.
"use strict";
(function () {
  const token = document.querySelector('meta[name="csrf-token"]').content;
  const urls = JSON.parse(document.getElementById("launch-urls").textContent);
  SlipForm.mount(document.getElementById("launch-form"), JSON.parse(document.getElementById("launch-spec").textContent), {
    launchUrl: urls.launchUrl,
    uploadUrl: urls.uploadUrl,
    body: JSON.parse(document.getElementById("launch-target").textContent),
    headers: () => ({"X-CSRF-Token": token}),
  });
})();

// Behaviour every page shares, kept out of the HTML (the pages allow no inline script):
// selects marked data-autosubmit submit their form; elements with data-refresh-seconds get an
// htmx "refresh" event that often while the tab is visible.
"use strict";
(function () {
  for (const select of document.querySelectorAll("select[data-autosubmit]")) {
    select.addEventListener("change", () => select.form.submit());
  }
  for (const element of document.querySelectorAll("[data-refresh-seconds]")) {
    const seconds = Number(element.dataset.refreshSeconds) || 3;
    setInterval(() => {
      if (document.visibilityState === "visible" && window.htmx) htmx.trigger(element, "refresh");
    }, seconds * 1000);
  }
})();

// An entity's page: draws its graph before any run from the embedded model.
"use strict";
(function () {
  const element = document.getElementById("graph");
  const model = JSON.parse(document.getElementById("graph-model").textContent);
  const options = JSON.parse(document.getElementById("graph-options").textContent);
  SlipGraph.mount(element, model, options);
})();

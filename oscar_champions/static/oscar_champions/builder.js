/* The segment builder's live count: as staff change a condition, ask the count endpoint how many
   customers match and show it. Without JavaScript the "Show members" button does the same. */
(function () {
    "use strict";
    var form = document.getElementById("segment_filter_form");
    var output = document.getElementById("live_count");
    if (!form || !output || !window.fetch) {
        return;
    }
    var timer = null;
    var latest = 0;

    function update() {
        var request = ++latest;
        var query = new URLSearchParams(new FormData(form)).toString();
        fetch(form.dataset.countUrl + "?" + query, {credentials: "same-origin", headers: {"Accept": "application/json"}})
            .then(function (response) { return response.json(); })
            .then(function (data) {
                if (request !== latest) {
                    return;  // an answer to an older state of the form
                }
                if (data.count === null) {
                    var messages = [];
                    Object.keys(data.errors).forEach(function (name) {
                        data.errors[name].forEach(function (error) { messages.push(error.message); });
                    });
                    output.textContent = messages.join(" ");
                    output.classList.add("text-danger");
                } else {
                    output.textContent = data.label;
                    output.classList.remove("text-danger");
                }
            })
            .catch(function () {});
    }

    function schedule() {
        window.clearTimeout(timer);
        timer = window.setTimeout(update, 300);
    }

    form.addEventListener("input", schedule);
    form.addEventListener("change", schedule);
}());

/* The C example: load the model compiled into model.o, run it on a
 * deterministic image, print the class probabilities (one per line, %.9g so
 * they read back exactly as f32).
 *
 * Build (from the repository root; examples/c/build.sh does all of this):
 *   cargo build --release -p ingot-capi
 *   cargo run --release -p ingot-compiler --bin ingot -- \
 *       compile examples/c/model.ir --emit obj -o build/model.o
 *   cc -O2 -Ibuild examples/c/main.c build/model.o \
 *       target/release/libingot_capi.a -lpthread -ldl -lm -o build/c_example
 */
#include <stdio.h>
#include "model.h"

int main(void) {
    char err[512];
    float image[MODEL_INPUT_0_NUMEL];
    float probs[MODEL_OUTPUT_0_NUMEL];
    for (int i = 0; i < MODEL_INPUT_0_NUMEL; i++) {
        image[i] = (float)((i * 37) % 17 - 8) / 8.0f;
    }
    IngotModel *m = model_create(1, err, sizeof err);
    if (!m) {
        fprintf(stderr, "model_create: %s\n", err);
        return 1;
    }
    const void *inputs[MODEL_NUM_INPUTS] = {image};
    void *outputs[MODEL_NUM_OUTPUTS] = {probs};
    if (ingot_model_run(m, inputs, outputs, err, sizeof err) != 0) {
        fprintf(stderr, "ingot_model_run: %s\n", err);
        ingot_model_destroy(m);
        return 1;
    }
    for (int j = 0; j < MODEL_OUTPUT_0_NUMEL; j++) {
        printf("%.9g\n", probs[j]);
    }
    fprintf(stderr, "arena: %d bytes\n", (int)MODEL_ARENA_BYTES);
    ingot_model_destroy(m);
    return 0;
}

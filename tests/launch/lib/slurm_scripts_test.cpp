// Generated sbatch scripts: resources, the array over (backbone, fold), the signal/requeue path,
// and that bash accepts them.
#include <fstream>
#include <sstream>

#include <gtest/gtest.h>

#include "launch/lib/slurm_scripts.h"
#include "temp_dir.h"

namespace tokenfocus::launch {
namespace {

std::string slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

TEST(SlurmScripts, ArrayOverBackboneAndFoldWithPreemption) {
  TempDir dir("slurm-scripts");
  const auto run = config::resolve_text<config::RunConfig>(
      "name: r\nbackbones:\n  - {name: a, model_dir: x}\n  - {name: b, model_dir: y}\n"
      "folds: {k: 3}\nslurm: {partition: gpu, account: lab, gpus_per_node: 4, tasks_per_node: 4, "
      "signal_seconds: 120, time: '02:00:00'}\n",
      {"output.run_dir=" + dir.str() + "/run"});
  const SlurmScripts s = write_slurm_scripts(run, "/opt/tf/bin/tokenfocus");
  EXPECT_EQ(s.train_tasks, 6);
  const std::string train = slurp(s.train);
  for (const char* line :
       {"#SBATCH --array=0-5\n", "#SBATCH --gpus-per-node=4\n", "#SBATCH --ntasks-per-node=4\n",
        "#SBATCH --partition=gpu\n", "#SBATCH --account=lab\n", "#SBATCH --time=02:00:00\n",
        "#SBATCH --signal=B:USR1@120\n", "#SBATCH --requeue\n",
        "TASKS=( 'a:0' 'a:1' 'a:2' 'b:0' 'b:1' 'b:2' )", "srun --mpi=pmix",
        "scontrol requeue \"$SLURM_JOB_ID\"", "[ \"$rc\" -eq 75 ]"})
    EXPECT_NE(train.find(line), std::string::npos) << line;
  EXPECT_EQ(slurp(s.config), run.canonical_yaml);
  const std::string submit = slurp(s.submit);
  EXPECT_NE(submit.find("--dependency=afterok:${prepare%%;*} train.sbatch"), std::string::npos);
  EXPECT_NE(submit.find("--dependency=afterok:${train%%;*} ensemble.sbatch"), std::string::npos);
  for (const std::string& script : {s.train, s.prepare, s.ensemble, s.submit})
    EXPECT_EQ(std::system(("bash -n " + script).c_str()), 0) << script;
}

TEST(SlurmScripts, MpirunLauncherAndNoArray) {
  TempDir dir("slurm-noarray");
  const auto run = config::resolve_text<config::RunConfig>(
      "backbones:\n  - {name: a, model_dir: x}\nfolds: {k: 2, only: [1]}\n"
      "slurm: {launcher: mpirun, job_array: false}\n",
      {"output.run_dir=" + dir.str() + "/run"});
  const SlurmScripts s = write_slurm_scripts(run, "/bin/tokenfocus");
  const std::string train = slurp(s.train);
  EXPECT_EQ(train.find("--array"), std::string::npos);
  EXPECT_NE(train.find("mpirun -np \"$SLURM_NTASKS\""), std::string::npos);
  EXPECT_EQ(training_tasks(run.config), (std::vector<std::pair<std::string, int64_t>>{{"a", 1}}));
}

}  // namespace
}  // namespace tokenfocus::launch
